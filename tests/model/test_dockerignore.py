"""model/.dockerignore lets into the image's build context exactly what the Dockerfile copies: the lock, the server
package and the model files, a graph's external data (`<name>.onnx.data`) among them. Docker itself decides: the
test builds a `FROM scratch` image of the context with the real .dockerignore and lists what got in."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tools.docker.build import docker_client

DOCKERIGNORE = Path(__file__).resolve().parents[2] / "model" / ".dockerignore"


@pytest.mark.docker
def test_the_build_context_holds_model_files_with_their_external_data_and_nothing_else(tmp_path):
    docker = docker_client()
    if shutil.which(docker) is None or subprocess.run([docker, "info"], capture_output=True).returncode != 0:
        reason = "no Docker engine answers (sudo bash .ci/provision starts one)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; in CI .ci/provision should have provided it")
        pytest.skip(reason)
    context = tmp_path / "context"
    files = ["requirements.lock", "requirements.in", "train.py", "Dockerfile", "model_server/app.py",
             "model_server/__pycache__/app.cpython-311.pyc", "artifacts/wine.onnx", "artifacts/wine.onnx.data",
             "artifacts/breast-cancer.onnx", "artifacts/notes.txt", "artifacts/model.joblib"]  # fmt: skip
    for name in files:
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        (context / name).write_text(name)
    shutil.copyfile(DOCKERIGNORE, context / ".dockerignore")
    dockerfile = tmp_path / "list.Dockerfile"
    dockerfile.write_text("FROM scratch\nCOPY . /\n")
    out = tmp_path / "out"
    subprocess.run(
        [docker, "build", "--quiet", "--file", str(dockerfile), "--output", f"type=local,dest={out}", str(context)],
        env={**os.environ, "DOCKER_BUILDKIT": "1"},
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "artifacts/breast-cancer.onnx",
        "artifacts/wine.onnx",
        "artifacts/wine.onnx.data",
        "model_server/app.py",
        "requirements.lock",
    ]
