"""End to end: the model server image is built, pushed to a local registry, pulled back by digest and run the way
Kubernetes runs it (read-only root, UID 10001, no capabilities). It serves the model, refuses bad requests with 4xx,
and on SIGTERM under load finishes every in-flight request and exits 0.

Needs a Docker engine and a registry on 127.0.0.1:5000 (`.ci/provision` starts both). Without them the tests skip,
except in CI (CI=true), where that is a failure. Environment: E2E_BASE_IMAGE (default: a local Debian base built
by tools/docker/base-image.sh), E2E_CA_FILE (default: this machine's CA bundle, for TLS-intercepting proxies).
"""

# Over 300 lines on purpose: one image built once (a slow fixture), then every property checked on it.

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.loopback import free_port
from tools.docker.build import (
    MODEL_DIR,
    REPO_ROOT,
    BuildError,
    ImageBuild,
    build_image,
    docker_client,
    git_metadata,
)

pytestmark = pytest.mark.docker

REGISTRY = "127.0.0.1:5000"
REPOSITORY = f"{REGISTRY}/ml-platform/model-server"
MODEL_NAME = "breast-cancer"
MODEL_FILE = MODEL_DIR / "artifacts" / f"{MODEL_NAME}.onnx"
CONTAINER_PORT = 8080
# Exactly how the ModelService runs the pod, less what only Kubernetes sets.
HARDENED_RUN_FLAGS = [
    "--read-only", "--tmpfs", "/tmp", "--user", "10001",
    "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
]  # fmt: skip
READY_TIMEOUT_S = 60
LOAD_WORKERS = 8  # concurrent clients while SIGTERM arrives
LOAD_MAX_REQUESTS = 3000  # bounds on the load, whatever happens
LOAD_MAX_SECONDS = 30


def unavailable(reason: str) -> None:
    """Skip on a developer's machine; fail in CI, where .ci/provision must have provided the engine and registry."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; in CI .ci/provision should have provided it")
    pytest.skip(reason)


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Runs the Docker client; on failure the test fails with the command and its output."""
    command = [docker_client(), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(command)} exited {result.returncode}: {result.stderr.strip() or result.stdout.strip()}")
    return result


# --- fixtures: engine and registry, the image (built, pushed, pulled by digest), a running container --------------


@pytest.fixture(scope="module")
def engine() -> None:
    try:
        info = docker("info", "--format", "{{.ServerVersion}}", timeout=20, check=False)
    except (FileNotFoundError, subprocess.TimeoutExpired) as error:
        unavailable(f"no Docker engine answers ({error})")
    if info.returncode != 0:
        unavailable(f"no Docker engine answers: {info.stderr.strip()[:200]}")


@pytest.fixture(scope="module")
def registry(engine) -> str:
    try:
        httpx.get(f"http://{REGISTRY}/v2/", timeout=3).raise_for_status()
    except httpx.HTTPError as error:
        unavailable(f"no registry answers on {REGISTRY} ({error})")
    return REGISTRY


@pytest.fixture(scope="module")
def base_image(engine, e2e_report) -> str:
    if os.environ.get("E2E_BASE_IMAGE"):
        return os.environ["E2E_BASE_IMAGE"]
    script = REPO_ROOT / "tools" / "docker" / "base-image.sh"
    started = time.monotonic()
    result = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=900, check=False)
    if result.returncode != 0:
        unavailable(f"could not build a local base image (set E2E_BASE_IMAGE): {result.stderr.strip()[-400:]}")
    e2e_report["base image"] = f"tools/docker/base-image.sh, {time.monotonic() - started:.0f} s"
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def image(registry, base_image, e2e_report) -> Generator[str, None, None]:
    """The digest reference of the image after a round trip through the registry: `<repository>@sha256:...`."""
    tag = f"{REPOSITORY}:e2e-{uuid.uuid4().hex[:12]}"
    ca_file = Path(os.environ.get("E2E_CA_FILE", "/etc/ssl/certs/ca-certificates.crt"))
    build = ImageBuild(tag=tag, base_image=base_image, ca_file=ca_file if ca_file.is_file() else None, **git_metadata())
    started = time.monotonic()
    try:
        build_image(build, quiet=True)
    except BuildError as error:
        pytest.fail(str(error))
    e2e_report["image build"] = f"{time.monotonic() - started:.0f} s (base {base_image})"

    docker("push", tag, timeout=300)
    repo_digests = json.loads(docker("image", "inspect", "--format", "{{json .RepoDigests}}", tag).stdout)
    reference = next(d for d in repo_digests if d.startswith(f"{REPOSITORY}@sha256:"))
    # Forget the local copy, so that what runs below is what the registry serves for that digest.
    docker("image", "rm", tag)
    assert docker("image", "inspect", reference, check=False).returncode != 0, "image still present after rm"
    docker("pull", reference, timeout=300)

    size = int(docker("image", "inspect", "--format", "{{.Size}}", reference).stdout)
    e2e_report["image"] = reference
    e2e_report["image size"] = f"{size / 1e6:.0f} MB"
    yield reference
    docker("image", "rm", reference, check=False)


@dataclass
class Container:
    """A running model server container, reachable on a loopback port."""

    id: str
    base_url: str
    seconds_to_ready: float

    def logs(self) -> str:
        result = docker("logs", "--tail", "40", self.id, check=False)
        return (result.stdout + result.stderr).strip()


def started_at(container_id: str) -> dt.datetime:
    """The container's start time from the engine (RFC 3339 with nanoseconds, trimmed to microseconds)."""
    stamp = docker("inspect", "--format", "{{.State.StartedAt}}", container_id).stdout.strip()
    stamp = re.sub(r"(\.\d{6})\d*", r"\1", stamp).replace("Z", "+00:00")
    return dt.datetime.fromisoformat(stamp)


def start_container(reference: str) -> Container:
    """Runs the image hardened, publishes its port on loopback only, and waits for /v2/health/ready."""
    port = free_port()
    name = f"model-server-e2e-{uuid.uuid4().hex[:8]}"
    docker("run", "--detach", "--name", name, *HARDENED_RUN_FLAGS,
           "--publish", f"127.0.0.1:{port}:{CONTAINER_PORT}", reference)  # fmt: skip
    container = Container(id=name, base_url=f"http://127.0.0.1:{port}", seconds_to_ready=float("nan"))
    deadline = time.monotonic() + READY_TIMEOUT_S
    next_liveness_check = time.monotonic() + 0.5
    with httpx.Client(base_url=container.base_url, timeout=2) as client:
        while time.monotonic() < deadline:
            try:
                if client.get("/v2/health/ready").status_code == 200:
                    ready_at = dt.datetime.now(dt.UTC)
                    container.seconds_to_ready = (ready_at - started_at(name)).total_seconds()
                    return container
            except httpx.TransportError:
                pass  # not listening yet
            if time.monotonic() > next_liveness_check:  # a crashed server never gets ready: stop waiting for it
                if docker("inspect", "--format", "{{.State.Running}}", name).stdout.strip() != "true":
                    break
                next_liveness_check = time.monotonic() + 0.5
            time.sleep(0.01)
    logs = container.logs()
    docker("rm", "--force", name, check=False)
    pytest.fail(f"container never became ready within {READY_TIMEOUT_S}s; its last logs:\n{logs}")


@pytest.fixture(scope="module")
def server(image, e2e_report) -> Generator[Container, None, None]:
    container = start_container(image)
    e2e_report["container start to ready"] = f"{container.seconds_to_ready:.2f} s"
    yield container
    docker("rm", "--force", container.id, check=False)


# --- the request helpers ------------------------------------------------------------------------------------------


def example_rows(count: int) -> np.ndarray:
    from sklearn.datasets import load_breast_cancer  # a dev dependency, bundled data: no download

    return load_breast_cancer().data[:count].astype(np.float32)


def infer_body(metadata: dict, rows: np.ndarray) -> dict:
    """A V2 inference request for `rows`, naming the model's (single) input as its metadata describes it."""
    (model_input,) = metadata["inputs"]
    return {
        "inputs": [
            {
                "name": model_input["name"],
                "shape": list(rows.shape),
                "datatype": model_input["datatype"],
                "data": rows.ravel().tolist(),
            }
        ]
    }


# --- the tests --------------------------------------------------------------------------------------------------------


def test_image_carries_oci_labels_of_this_checkout(image, base_image):
    labels = json.loads(docker("image", "inspect", "--format", "{{json .Config.Labels}}", image).stdout)
    assert labels["org.opencontainers.image.base.name"] == base_image
    revision = git_metadata().get("revision")
    if revision:
        assert labels["org.opencontainers.image.revision"] == revision
    assert labels["org.opencontainers.image.version"]


def test_image_runs_as_uid_10001_without_training_packages_pip_or_compilers(image):
    assert docker("image", "inspect", "--format", "{{.Config.User}}", image).stdout.strip().split(":")[0] == "10001"
    probe = (
        "import importlib.util, json, os, shutil;"
        "print(json.dumps({'uid': os.getuid(), 'gid': os.getgid(),"
        " 'modules': [m for m in ('sklearn', 'scipy', 'skl2onnx', 'pip') if importlib.util.find_spec(m)],"
        " 'tools': [t for t in ('gcc', 'cc', 'make', 'pip', 'pip3') if shutil.which(t)]}))"
    )
    found = json.loads(docker("run", "--rm", "--read-only", "--cap-drop", "ALL", image, "python", "-c", probe).stdout)
    assert (found["uid"], found["gid"]) == (10001, 10001)
    assert found["modules"] == [], f"the image ships {found['modules']}"
    assert found["tools"] == [], f"the image ships {found['tools']}"


def test_serves_predictions_equal_to_onnx_runtime_on_the_same_model(server):
    import onnxruntime

    rows = example_rows(8)
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        assert client.get("/v2/health/live").status_code == 200
        metadata = client.get(f"/v2/models/{MODEL_NAME}").raise_for_status().json()
        response = client.post(f"/v2/models/{MODEL_NAME}/infer", json=infer_body(metadata, rows))
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["model_name"] == MODEL_NAME

    session = onnxruntime.InferenceSession(str(MODEL_FILE), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {session.get_inputs()[0].name: rows})
    expected = dict(zip([o.name for o in session.get_outputs()], outputs, strict=True))
    compared = 0
    for output in result["outputs"]:
        assert output["name"] in expected, f"unexpected output {output['name']}"
        want = np.asarray(expected[output["name"]])
        assert output["shape"] == list(want.shape)
        np.testing.assert_allclose(np.asarray(output["data"], dtype=want.dtype), want.ravel(), rtol=1e-5, atol=1e-6)
        compared += 1
    assert compared >= 1


@pytest.mark.parametrize(
    ("body", "why"),
    [(b'{"inputs": [', "malformed JSON"), (b'{"inputs": []}', "empty inputs"), (b'{"inputs": [{}]}', "no name")],
    ids=["malformed-json", "empty-inputs", "input-without-name"],
)
def test_bad_requests_get_400_with_a_json_error(server, body, why):
    response = httpx.post(
        f"{server.base_url}/v2/models/{MODEL_NAME}/infer",
        content=body,
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 400, f"{why}: {response.status_code} {response.text}"
    assert response.json().get("error"), f"{why}: no error message in {response.text!r}"


def test_unknown_model_gets_404_with_a_json_error(server):
    metadata = httpx.get(f"{server.base_url}/v2/models/{MODEL_NAME}", timeout=10).json()
    response = httpx.post(
        f"{server.base_url}/v2/models/no-such-model/infer", json=infer_body(metadata, example_rows(1)), timeout=10
    )
    assert response.status_code == 404, response.text
    assert response.json().get("error"), f"no error message in {response.text!r}"


@dataclass(frozen=True)
class Outcome:
    started: float
    result: str  # "200", another status code, or the exception's class name


def run_load(base_url: str, body: dict, stop: threading.Event, outcomes: list[Outcome]) -> None:
    """One client: keep-alive requests back to back until `stop` is set (or the bounds are hit)."""
    deadline = time.monotonic() + LOAD_MAX_SECONDS
    with httpx.Client(base_url=base_url, timeout=10) as client:
        while not stop.is_set() and time.monotonic() < deadline and len(outcomes) < LOAD_MAX_REQUESTS:
            started = time.monotonic()
            try:
                result = str(client.post(f"/v2/models/{MODEL_NAME}/infer", json=body).status_code)
            except httpx.HTTPError as error:
                result = type(error).__name__
            outcomes.append(Outcome(started, result))


class HalfSentRequest:
    """An inference request whose body is sent in two halves: between them it is certainly in flight."""

    def __init__(self, base_url: str, body: dict):
        host, port = base_url.removeprefix("http://").split(":")
        self.body = json.dumps(body).encode()
        self.connection = http.client.HTTPConnection(host, int(port), timeout=30)
        self.connection.putrequest("POST", f"/v2/models/{MODEL_NAME}/infer")
        self.connection.putheader("Content-Type", "application/json")
        self.connection.putheader("Content-Length", str(len(self.body)))
        self.connection.endheaders()
        self.connection.send(self.body[: len(self.body) // 2])

    def finish(self) -> str:
        """Sends the rest and returns the status code, or the exception's class name if the request broke."""
        try:
            self.connection.send(self.body[len(self.body) // 2 :])
            response = self.connection.getresponse()
            json.loads(response.read())
            return str(response.status)
        except (OSError, http.client.HTTPException, ValueError) as error:
            return type(error).__name__
        finally:
            self.connection.close()


def test_sigterm_under_load_finishes_every_in_flight_request_and_exits_0(image, e2e_report):
    container = start_container(image)
    stop, outcomes = threading.Event(), []
    workers = []
    try:
        metadata = httpx.get(f"{container.base_url}/v2/models/{MODEL_NAME}", timeout=10).json()
        body = infer_body(metadata, example_rows(1))
        half_sent = [HalfSentRequest(container.base_url, body) for _ in range(4)]
        workers = [
            threading.Thread(target=run_load, args=(container.base_url, body, stop, outcomes), daemon=True)
            for _ in range(LOAD_WORKERS)
        ]
        for worker in workers:
            worker.start()
        warm_until = time.monotonic() + 3
        while len(outcomes) < 200 and time.monotonic() < warm_until:
            time.sleep(0.01)

        sigterm_sent = time.monotonic()
        docker("kill", "--signal", "TERM", container.id)  # returns once the signal is delivered, like `docker stop`
        time.sleep(0.5)  # the server has seen SIGTERM and stopped accepting; the half-sent requests are still open
        finished = [request.finish() for request in half_sent]
        exit_code = docker("wait", container.id, timeout=30).stdout.strip()  # `docker stop` would SIGKILL after 10 s
        stop.set()
        for worker in workers:
            worker.join(timeout=15)

        sent_before = [o for o in outcomes if o.started < sigterm_sent]
        failed = [o for o in sent_before if o.result != "200"]
        e2e_report["SIGTERM under load"] = (
            f"{len(sent_before)} requests sent before SIGTERM, {len(failed)} failed; "
            f"{len(half_sent)} half-sent requests finished after it: {', '.join(finished)}"
        )
        assert finished == ["200"] * len(half_sent), f"requests in flight at SIGTERM broke: {finished}"
        assert sent_before and not failed, f"{len(failed)} of {len(sent_before)} requests failed: {failed[:5]}"
        assert exit_code == "0", f"exit code {exit_code}\n{container.logs()}"
    finally:
        stop.set()
        docker("rm", "--force", container.id, check=False)
