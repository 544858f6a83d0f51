"""Fixtures for the model server tests: a freshly trained model, and the real server run as a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.loopback import free_port

REPO = Path(__file__).resolve().parents[2]
MODEL_DIR = REPO / "model"
ARTIFACT = MODEL_DIR / "artifacts" / "breast-cancer.onnx"

# In-process tests import the server package the way the image does: with model/ on the path.
if str(MODEL_DIR) not in sys.path:
    sys.path.insert(0, str(MODEL_DIR))


class ServerProcess:
    """`python -m model_server` in a subprocess on a free loopback port, with its JSON log kept in a file."""

    def __init__(self, tmp_path: Path, **env: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / f"server-{self.port}.log"
        environment = {
            **os.environ,
            "PYTHONPATH": str(MODEL_DIR),
            "PYTHONDONTWRITEBYTECODE": "1",
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "MODEL_THREADS": "1",
            **env,
        }
        self._log = self.log_path.open("wb")
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "model_server"], env=environment, stdout=self._log, stderr=subprocess.STDOUT
        )

    def wait_for(self, path: str, status: int = 200, timeout: float = 20.0) -> httpx.Response:
        """Poll `path` until it answers `status`; fail the test with the log when it does not in time."""
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"server exited with {self.process.returncode}:\n{self.log_text()}")
            try:
                response = httpx.get(self.url + path, timeout=2)
                if response.status_code == status:
                    return response
                last = response.status_code
            except httpx.TransportError as error:
                last = error
            time.sleep(0.02)
        pytest.fail(f"{path} did not answer {status} within {timeout}s (last: {last}):\n{self.log_text()}")

    def log_text(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def log_records(self) -> list[dict]:
        """Every log line, parsed as JSON (a line that is not JSON fails the test)."""
        return [json.loads(line) for line in self.log_text().splitlines() if line.strip()]

    def wait_for_log(self, text: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log_text():
                return
            time.sleep(0.05)
        pytest.fail(f"log never said {text!r}:\n{self.log_text()}")

    def terminate(self, timeout: float = 30.0) -> int:
        """Send SIGTERM and return the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._log.close()


@pytest.fixture
def start_server(tmp_path):
    """Start servers with extra environment variables; they are killed at the end of the test if still running."""
    servers: list[ServerProcess] = []

    def start(**env: str) -> ServerProcess:
        server = ServerProcess(tmp_path, **env)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One ready server on the committed artifact, shared by a module's tests (room for the whole data set)."""
    process = ServerProcess(tmp_path_factory.mktemp("server"), MAX_REQUEST_ROWS="600", MAX_BODY_BYTES="400000")
    process.wait_for("/v2/health/ready")
    yield process
    process.kill()


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """The example model trained afresh in a tmp dir: (onnx path, fitted scikit-learn model, X, y)."""
    import train  # model/train.py

    out = tmp_path_factory.mktemp("trained")
    onnx_path = out / "breast-cancer.onnx"
    features, labels = train.load_data()
    model = train.train(features, labels)
    onnx_path.write_bytes(train.to_onnx_bytes(model, features.shape[1]))
    return onnx_path, model, features, labels
