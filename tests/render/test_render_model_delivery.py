"""`make render` and `make diff` with models delivered apart from the runtime: both delivery paths validate against
every supported Kubernetes version, and a model-only change is one changed line of one Deployment."""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pulumi.test_model_package import retrained
from tools import diff, render, validate

from .conftest import ROOT, make_project, stack_config

IMAGE_VOLUME = {"ml-platform:modelDelivery": "imageVolume", "ml-platform:kubernetesVersion": "1.35"}


def dev_project(directory: Path, stack: str, **changes) -> Path:
    """The real dev stack (three models, one runtime), its models copied so a test may change one."""
    config = {**stack_config("dev"), **changes}
    for model in config["ml-platform:models"].values():
        model["model"]["path"] = model["model"]["path"].replace("./models/", "./own-models/")
    project = make_project(directory, stack, config)
    shutil.copytree(ROOT / "models", project / "own-models")
    return project


def rendered(project: Path, stack: str, out: Path) -> tuple[int, str]:
    stderr = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(stderr):
        code = render.main(["--stack", stack, "--project-dir", str(project), "--out", str(out), "--skip-checkov"])
    return code, stderr.getvalue()


@pytest.mark.parametrize(("delivery", "changes"), [("initContainer", {}), ("imageVolume", IMAGE_VOLUME)])
def test_both_delivery_paths_render_and_validate_for_every_supported_version(tmp_path, delivery, changes):
    project = dev_project(tmp_path / "project", "dev", **changes)

    code, stderr = rendered(project, "dev", tmp_path / "out")
    objects = render.render_stack("dev", project_dir=project).objects

    assert (code, stderr) == (0, "")
    deployments = [obj for obj in objects if obj["kind"] == "Deployment"]
    assert len(deployments) == 3
    for deployment in deployments:
        spec = deployment["spec"]["template"]["spec"]
        [volume] = [v for v in spec["volumes"] if v["name"] == "model"]
        assert ("image" in volume) == (delivery == "imageVolume")
        assert ("initContainers" in spec) == (delivery == "initContainer")
    assert validate.validate_objects(deployments, validate.supported_versions()) == []
    assert validate.supported_versions()[0] == "1.31"


def test_a_model_only_change_is_one_changed_reference_in_make_diff(tmp_path):
    before = dev_project(tmp_path / "before", "dev")
    after = dev_project(tmp_path / "after", "dev")
    shutil.copyfile(retrained(tmp_path), after / "own-models" / "iris.onnx")

    old = render.render_stack("dev", project_dir=before).objects
    new = render.render_stack("dev", project_dir=after).objects
    text = diff.diff_objects(old, new, "before", "after")

    changed = [line for line in text.splitlines() if line[:1] in "+-" and line[:3] not in ("---", "+++")]
    assert "--- before/Deployment/iris" in text and text.count("--- ") == 1
    # The init container's image: the model image's new digest, and nothing else in any object.
    assert [line.split("@")[0].strip() for line in changed] == [
        "-        image: 127.0.0.1:5000/models/iris".strip(),
        "+        image: 127.0.0.1:5000/models/iris".strip(),
    ]


def test_make_diff_between_the_real_stacks_runs(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tools.diff", "--from", "dev", "--to", "prod"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "registry.example.com/ml/models/iris@sha256:" in result.stdout
