"""End to end: the runtime image serves each example model delivered exactly as a pod receives it, apart from the
image, read-only, as UID 10001 on a read-only root with no capabilities.

- image volume: the model image's filesystem (its /model/ included) mounted read-only at /var/lib/model;
- init container: the model image's own copier, run as the pod runs it, copies /model/ into a shared directory
  (an emptyDir: group 10001, as fsGroup makes it), which the server then mounts read-only.

Each model image is packaged by the program's own code (components/model_package.py), built by BuildKit, pushed to
the registry on 127.0.0.1:5000 and pulled back by digest. Needs what tests/e2e/test_image.py needs.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
import time
import uuid
from collections.abc import Generator
from pathlib import Path

import httpx
import numpy as np
import pytest

from components.model_delivery import MODEL_DIR, MOUNT_PATH
from components.model_package import write_context
from tests.e2e.test_image import (  # noqa: F401  (fixtures, used by name)
    CONTAINER_PORT,
    HARDENED_RUN_FLAGS,
    base_image,
    docker,
    engine,
    image,
    registry,
)
from tests.loopback import free_port
from tools.docker.build import REPO_ROOT, docker_client

pytestmark = pytest.mark.docker

MODELS = ("breast-cancer", "iris", "diabetes")
# The example models (models/ at the repository root); E2E_MODELS_DIR points elsewhere.
MODELS_DIR = Path(os.environ.get("E2E_MODELS_DIR", REPO_ROOT / "models"))
VERSION = "1.0.0"
READY_TIMEOUT_S = 60


def example_rows(name: str, count: int = 8) -> np.ndarray:
    """Rows of the dataset the example model was trained on (bundled with scikit-learn: no download)."""
    from sklearn import datasets

    loader = {"breast-cancer": datasets.load_breast_cancer, "iris": datasets.load_iris}.get(name)
    data = (loader or datasets.load_diabetes)().data
    return np.asarray(data[:: max(1, len(data) // count)][:count], dtype=np.float32)


@pytest.fixture(scope="module")
def model_images(registry, tmp_path_factory) -> Generator[dict[str, str], None, None]:  # noqa: F811
    """Each example model packaged, built, pushed, and pulled back: name -> `<repository>@sha256:...`."""
    references = {}
    work = tmp_path_factory.mktemp("model-images")
    for name in MODELS:
        source = MODELS_DIR / f"{name}.onnx"
        if not source.is_file():
            continue  # its test fails, naming the file
        context = write_context(source, work / name, name=name, version=VERSION, cache_dir=work / "copier").context
        tag = f"{registry}/models/{name}:e2e-{uuid.uuid4().hex[:8]}"
        env = {**os.environ, "DOCKER_BUILDKIT": "1"}
        subprocess.run([docker_client(), "build", "--quiet", "--tag", tag, str(context)], env=env, check=True,
                       capture_output=True, timeout=300)  # fmt: skip
        docker("push", tag, timeout=120)
        digests = json.loads(docker("image", "inspect", "--format", "{{json .RepoDigests}}", tag).stdout)
        reference = next(d for d in digests if "@sha256:" in d)
        docker("image", "rm", tag)
        docker("pull", reference, timeout=120)
        references[name] = reference
    yield references
    for reference in references.values():
        docker("image", "rm", reference, check=False)


def image_filesystem(reference: str, into: Path) -> Path:
    """The model image's filesystem, as an image volume exposes it (docker export of a created container)."""
    container = docker("create", reference).stdout.strip()
    archive = into.with_suffix(".tar")
    try:
        with open(archive, "wb") as out:
            subprocess.run([docker_client(), "export", container], stdout=out, check=True, timeout=60)
    finally:
        docker("rm", container, check=False)
    into.mkdir()
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="tar")
    return into


def copied_by_the_init_container(reference: str, into: Path) -> Path:
    """An emptyDir-like directory (group 10001, group-writable: what fsGroup gives), filled by the model image's
    copier run as the init container runs: its entrypoint and args, UID 10001, read-only root, no capabilities."""
    into.mkdir()
    os.chown(into, 0, 10001)
    into.chmod(0o2775)
    # runAsUser and runAsGroup 10001, as the pod's security context sets them (a later --user wins).
    flags = [*HARDENED_RUN_FLAGS, "--user", "10001:10001", "--volume", f"{into}:{MOUNT_PATH}"]
    docker("run", "--rm", *flags, reference, "/model", MODEL_DIR)
    return into


def serve(runtime: str, name: str, volume: Path) -> tuple[str, str]:
    """The runtime, hardened as in the pod, the model directory mounted read-only; (container, base URL) once ready."""
    port = free_port()
    container = f"model-delivery-e2e-{uuid.uuid4().hex[:8]}"
    env = {"MODEL_DIR": MODEL_DIR, "MODEL_NAME": name, "MODEL_VERSION": VERSION, "PORT": str(CONTAINER_PORT)}
    flags = [arg for key, value in env.items() for arg in ("--env", f"{key}={value}")]
    flags += ["--volume", f"{volume}:{MOUNT_PATH}:ro", "--publish", f"127.0.0.1:{port}:{CONTAINER_PORT}"]
    docker("run", "--detach", "--name", container, *HARDENED_RUN_FLAGS, *flags, runtime)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/v2/health/ready", timeout=2).status_code == 200:
                return container, base_url
        except httpx.TransportError:
            pass
        if docker("inspect", "--format", "{{.State.Running}}", container).stdout.strip() != "true":
            break
        time.sleep(0.05)
    logs = docker("logs", "--tail", "20", container, check=False)
    docker("rm", "--force", container, check=False)
    pytest.fail(f"{name} never became ready: {(logs.stdout + logs.stderr).strip()}")


def expected_outputs(name: str, rows: np.ndarray) -> dict[str, np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(MODELS_DIR / f"{name}.onnx"), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {session.get_inputs()[0].name: rows})
    return dict(zip([o.name for o in session.get_outputs()], outputs, strict=True))


@pytest.mark.parametrize("path", ["imageVolume", "initContainer"])
@pytest.mark.parametrize("name", MODELS)
def test_the_runtime_serves_each_model_delivered_as_a_pod_receives_it(image, model_images, tmp_path, name, path):  # noqa: F811
    assert name in model_images, f"{MODELS_DIR / name}.onnx is missing (the example models)"
    volume = tmp_path / "volume"
    if path == "imageVolume":
        image_filesystem(model_images[name], volume)
    else:
        copied_by_the_init_container(model_images[name], volume)
    assert (volume / "model" / "manifest.json").is_file()

    container, base_url = serve(image, name, volume)
    try:
        rows = example_rows(name)
        with httpx.Client(base_url=base_url, timeout=10) as client:
            metadata = client.get(f"/v2/models/{name}").raise_for_status().json()
            (model_input,) = metadata["inputs"]
            body = {"inputs": [{"name": model_input["name"], "shape": list(rows.shape), "datatype": "FP32",
                                "data": rows.ravel().tolist()}]}  # fmt: skip
            response = client.post(f"/v2/models/{name}/infer", json=body)
        user = docker("exec", container, "python", "-c", "import os; print(os.getuid())").stdout.strip()
    finally:
        docker("rm", "--force", container, check=False)

    assert response.status_code == 200, response.text
    assert user == "10001"
    expected = expected_outputs(name, rows)
    for output in response.json()["outputs"]:
        want = np.asarray(expected[output["name"]])
        assert output["shape"] == list(want.shape)
        if want.dtype.kind in "OSU":  # string labels travel as BYTES
            assert [str(v) for v in output["data"]] == [str(v) for v in want.ravel()]
        else:
            np.testing.assert_allclose(np.asarray(output["data"], dtype=want.dtype), want.ravel(), rtol=1e-5, atol=1e-5)
