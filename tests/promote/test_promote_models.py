"""`make promote` for models delivered apart from the runtime: both digests move, and both are printed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tools.promote import main

RUNTIME = "registry.example.com/ml/model-server@sha256:" + "a" * 64
RUNTIME_2 = "registry.example.com/ml/model-server@sha256:" + "c" * 64
IRIS = "registry.example.com/ml/models/iris@sha256:" + "b" * 64
IRIS_2 = "registry.example.com/ml/models/iris@sha256:" + "d" * 64
OLD = "registry.example.com/ml/models/iris@sha256:" + "0" * 64

PROD = f"""\
# The prod stack.
config:
  ml-platform:environment: production
  ml-platform:namespace: ml-prod
  # The model server every model runs on.
  ml-platform:runtime:
    image: {RUNTIME}   # set by make promote
  ml-platform:defaults:
    replicas: {{min: 3, max: 10}}
  ml-platform:models:
    # Iris: promoted from dev.
    iris:
      version: "1.0.0"
      model:
        image: {OLD}
      env:
        LOG_LEVEL: warning
    # Still its own server image.
    cancer:
      version: 0.9.0
      image: registry.example.com/ml/cancer@sha256:{"1" * 64}
"""


def dev_outputs(**models: tuple[str, str, str | None]) -> dict:
    return {
        "namespace": "ml-dev",
        "models": {
            name: {"image": image, "version": version, **({"modelImage": model} if model else {})}
            for name, (version, image, model) in models.items()
        },
    }


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "Pulumi.yaml").write_text("name: ml-platform\nruntime: python\n")
    (tmp_path / "Pulumi.prod.yaml").write_text(PROD)
    return tmp_path


def promote(project: Path, outputs: dict, *extra: str) -> int:
    path = project / "outputs.json"
    path.write_text(json.dumps(outputs))
    return main(["--from", "dev", "--to", "prod", "--outputs", str(path), "--project-dir", str(project), *extra])


def config(project: Path) -> dict:
    return YAML(typ="safe").load((project / "Pulumi.prod.yaml").read_text())["config"]


def test_a_new_model_image_moves_alone_and_is_printed_beside_the_runtime(project, capsys):
    assert promote(project, dev_outputs(iris=("1.1.0", RUNTIME, IRIS)), "--model", "iris") == 0

    printed = capsys.readouterr().out
    assert config(project)["ml-platform:models"]["iris"]["model"] == {"image": IRIS}
    assert config(project)["ml-platform:models"]["iris"]["version"] == "1.1.0"
    assert f"promoted iris 1.1.0 (runtime {RUNTIME}, model {IRIS}) from dev to Pulumi.prod.yaml" in printed
    assert "promoted the runtime" not in printed
    changed = [line for line in printed.splitlines() if line.startswith(("-  ", "+  "))]
    assert sorted(changed) == sorted(
        ['-      version: "1.0.0"', f"-        image: {OLD}", '+      version: "1.1.0"', f"+        image: {IRIS}"]
    )


def test_a_new_runtime_moves_too_keeping_the_comments(project, capsys):
    assert promote(project, dev_outputs(iris=("1.0.0", RUNTIME_2, IRIS_2)), "--model", "iris") == 0

    text = (project / "Pulumi.prod.yaml").read_text()
    assert config(project)["ml-platform:runtime"] == {"image": RUNTIME_2}
    assert f"    image: {RUNTIME_2}   # set by make promote\n" in text
    assert "# The model server every model runs on." in text
    assert f"promoted the runtime ({RUNTIME_2}) from dev to Pulumi.prod.yaml" in capsys.readouterr().out


def test_a_model_that_ran_its_own_server_image_switches_to_model_and_the_runtime(project):
    assert promote(project, dev_outputs(cancer=("1.0.0", RUNTIME, IRIS)), "--model", "cancer") == 0

    cancer = config(project)["ml-platform:models"]["cancer"]
    assert cancer == {"version": "1.0.0", "model": {"image": IRIS}}


def test_a_path_is_replaced_by_the_image_and_a_build_runtime_by_its_digest(project):
    text = (project / "Pulumi.prod.yaml").read_text()
    text = text.replace("environment: production", "environment: development")
    text = text.replace(f"image: {RUNTIME}", "build: {context: ./model}")
    text = text.replace(f"        image: {OLD}", "        path: ./models/iris.onnx\n        sizeLimit: 64Mi")
    (project / "Pulumi.prod.yaml").write_text(text)

    assert promote(project, dev_outputs(iris=("1.0.0", RUNTIME, IRIS)), "--model", "iris") == 0

    assert config(project)["ml-platform:runtime"] == {"image": RUNTIME}
    assert config(project)["ml-platform:models"]["iris"]["model"] == {"image": IRIS, "sizeLimit": "64Mi"}


def test_promoting_the_same_digests_again_changes_nothing(project, capsys):
    outputs = dev_outputs(iris=("1.0.0", RUNTIME, OLD))
    before = (project / "Pulumi.prod.yaml").read_text()

    assert promote(project, outputs, "--model", "iris") == 0

    assert (project / "Pulumi.prod.yaml").read_text() == before
    assert "already promoted from dev (iris 1.0.0); nothing changed" in capsys.readouterr().out


def test_an_unpinned_model_image_is_refused(project, capsys):
    outputs = dev_outputs(iris=("1.1.0", RUNTIME, "registry.example.com/ml/models/iris:1.1.0"))

    assert promote(project, outputs, "--model", "iris") == 1
    assert "models.iris.modelImage: 'registry.example.com/ml/models/iris:1.1.0' from dev is not pinned by digest" in (
        capsys.readouterr().err
    )


def test_a_runtime_without_a_stack_entry_is_added_before_the_models(project):
    text = (project / "Pulumi.prod.yaml").read_text()
    start = text.index("  # The model server")
    text = text[:start] + text[text.index("  ml-platform:defaults:") :]
    text = text.replace(f"        image: {OLD}\n", f"        image: {OLD}\n").replace("model:\n        image", "image")
    (project / "Pulumi.prod.yaml").write_text(text.replace("      image: " + OLD, "      image: " + RUNTIME))

    assert promote(project, dev_outputs(iris=("1.0.0", RUNTIME_2, IRIS)), "--model", "iris") == 0

    keys = list(config(project))
    assert keys.index("ml-platform:runtime") == keys.index("ml-platform:models") - 1
    assert config(project)["ml-platform:models"]["iris"]["model"] == {"image": IRIS}
