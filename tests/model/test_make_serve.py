"""`make serve`: the user's MODEL_PATH, MODEL_DIR, MODEL_NAME and PORT win over the Makefile's defaults, from the
command line or the environment, and MODEL=<name> serves models/<name>.onnx."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.loopback import free_port

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = "model/artifacts/breast-cancer.onnx"
# Variables of the caller's environment that would change what the Makefile chooses.
_SERVE_VARIABLES = ("MODEL", "MODEL_PATH", "MODEL_DIR", "MODEL_NAME", "PORT")


def _clean_env(**env: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k not in _SERVE_VARIABLES}, **env}


def serve_command(*args: str, **env: str) -> dict[str, str]:
    """The variables `make serve` would set for the server, from a dry run (`make -n`, the venv taken as built)."""
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", "-o", "venv", "-o", EXAMPLE, "serve", *args],
        cwd=REPO,
        env=_clean_env(**env),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    line = result.stdout.replace("\\\n", " ").strip().splitlines()[-1]
    words = shlex.split(line)
    assert words[-2:] == ["-m", "model_server"], line
    return dict(word.split("=", 1) for word in words if "=" in word)


def test_by_default_make_serve_serves_the_example_model():
    assert serve_command() == {
        "PYTHONPATH": "model", "PORT": "8080", "MODEL_PATH": EXAMPLE, "MODEL_NAME": "breast-cancer"
    }  # fmt: skip


def test_model_path_from_the_environment_wins():
    served = serve_command(MODEL_PATH="/tmp/x.onnx")
    assert (served["MODEL_PATH"], served["MODEL_NAME"]) == ("/tmp/x.onnx", "x")


def test_model_path_from_the_command_line_wins():
    served = serve_command("MODEL_PATH=/tmp/x.onnx", MODEL_PATH="/tmp/y.onnx")
    assert (served["MODEL_PATH"], served["MODEL_NAME"]) == ("/tmp/x.onnx", "x")


@pytest.mark.parametrize(
    ("model", "path", "name"), [("iris", "models/iris.onnx", "iris"), ("a/b/wine.onnx", "a/b/wine.onnx", "wine")]
)
def test_model_names_an_example_or_a_file(model, path, name):
    served = serve_command(f"MODEL={model}")
    assert (served["MODEL_PATH"], served["MODEL_NAME"]) == (path, name)


def test_a_model_name_of_ones_own_and_a_port_win():
    served = serve_command("MODEL=iris", MODEL_NAME="flowers", PORT="9001")
    assert (served["MODEL_NAME"], served["PORT"]) == ("flowers", "9001")


def test_model_dir_is_passed_alone_and_names_come_from_its_manifest():
    served = serve_command("MODEL_DIR=/var/lib/model/model")
    assert served["MODEL_DIR"] == "/var/lib/model/model"
    assert "MODEL_PATH" not in served and "MODEL_NAME" not in served


def test_model_dir_and_model_path_both_given_reach_the_server_which_refuses_them():
    served = serve_command("MODEL_DIR=/m", MODEL_PATH="/tmp/x.onnx")
    assert (served["MODEL_DIR"], served["MODEL_PATH"]) == ("/m", "/tmp/x.onnx")


def test_make_serve_model_serves_that_model(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        ["make", "--no-print-directory", "-o", "venv", "serve", "MODEL=iris", f"PORT={port}"],
        cwd=REPO,
        env=_clean_env(HOST="127.0.0.1", MODEL_THREADS="1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        metadata: dict = {}
        deadline = time.monotonic() + 30
        while not metadata and time.monotonic() < deadline:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/v2/models/iris", timeout=2)
                metadata = response.json() if response.status_code == 200 else {}
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        assert metadata, "make serve MODEL=iris never served model 'iris'"
        assert metadata["outputs"][0] == {"name": "label", "datatype": "BYTES", "shape": [-1]}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
