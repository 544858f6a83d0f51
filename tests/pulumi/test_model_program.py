"""The whole program with models delivered apart from one runtime (tools.stack_run, offline): the images it
builds, the pods it deploys, its outputs, and a model-only change touching one reference and nothing else."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.pulumi.test_model_package import EXAMPLE_ONNX, retrained
from tests.render.conftest import make_project
from tools.stack_run import ProgramError, run_stack

IMAGE = "docker-build:index:Image"
MODELS = ("breast-cancer", "iris", "diabetes")


def config(**stack: Any) -> dict[str, Any]:
    return {
        "ml-platform:namespace": "ml-dev",
        "ml-platform:registry": {"server": "127.0.0.1:5000"},
        "ml-platform:builder": "ml-platform",
        "ml-platform:runtime": {"build": {"context": "./model"}},
        **{f"ml-platform:{key}": value for key, value in stack.items()},
        "ml-platform:models": {
            name: {"version": "1.0.0", "model": {"path": f"./example-models/{name}.onnx"}} for name in MODELS
        },
    }


def project(tmp_path: Path, raw: dict[str, Any]) -> Path:
    directory = make_project(tmp_path / "project", "dev", raw)
    (directory / "example-models").mkdir()
    for name in MODELS:
        shutil.copyfile(EXAMPLE_ONNX, directory / "example-models" / f"{name}.onnx")
    return directory


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    raw = config()
    return run_stack("dev", config=raw, project_dir=project(tmp_path_factory.mktemp("dev"), raw))


def images(run) -> dict[str, dict]:
    return {image.name: image.inputs for image in run.of_type(IMAGE)}


def deployments(run) -> dict[str, dict]:
    return {m["metadata"]["name"]: m for m in run.manifests() if m["kind"] == "Deployment"}


def test_one_runtime_is_built_for_every_model_and_tagged_with_the_stack(dev):
    runtime = images(dev)["runtime"]

    assert runtime["tags"] == ["127.0.0.1:5000/model-server:dev"]
    assert runtime["context"] == {"location": "./model"}
    assert runtime["cacheFrom"]  # the runtime's pip layer is worth a registry cache


@pytest.mark.parametrize("name", MODELS)
def test_each_model_file_becomes_a_small_image_built_from_its_written_context(dev, name):
    image = images(dev)[f"{name}-model"]

    assert image["tags"] == [f"127.0.0.1:5000/models/{name}:1.0.0"]
    assert image["context"] == {"location": f"build/model-images/{name}"}
    assert image["buildArgs"] == {"SOURCE_DATE_EPOCH": "0"}
    assert image["push"] is True
    assert image["builder"] == {"name": "ml-platform"}
    assert "cacheFrom" not in image and "cacheTo" not in image


@pytest.mark.parametrize("name", MODELS)
def test_each_model_serves_on_the_runtime_with_its_model_copied_in(dev, name):
    outputs = dev.outputs["models"][name]
    spec = deployments(dev)[name]["spec"]["template"]["spec"]

    assert spec["containers"][0]["image"] == outputs["image"]
    assert spec["initContainers"][0]["image"] == outputs["modelImage"]
    assert outputs["image"].startswith("127.0.0.1:5000/model-server@sha256:")
    assert outputs["modelImage"].startswith(f"127.0.0.1:5000/models/{name}@sha256:")
    assert set(outputs) == {"image", "modelImage", "version", "service", "endpoint"}


def test_every_model_runs_the_same_runtime(dev):
    assert len({model["image"] for model in dev.outputs["models"].values()}) == 1


def changed_fields(before: Any, after: Any, path: str = "") -> list[str]:
    """Every leaf path where two objects differ."""
    if isinstance(before, dict) and isinstance(after, dict):
        return [
            f
            for k in sorted(set(before) | set(after))
            for f in changed_fields(before.get(k), after.get(k), f"{path}.{k}")
        ]
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [
            f for i, (a, b) in enumerate(zip(before, after, strict=True)) for f in changed_fields(a, b, f"{path}[{i}]")
        ]
    return [] if before == after else [path]


@pytest.mark.parametrize(
    ("stack", "field"),
    [
        ({}, ".spec.template.spec.initContainers[0].image"),
        (
            {"modelDelivery": "imageVolume", "kubernetesVersion": "1.35"},
            ".spec.template.spec.volumes[1].image.reference",
        ),
    ],
)
def test_a_model_only_change_changes_one_model_image_reference_and_nothing_else(tmp_path, stack, field):
    raw = config(**stack)
    directory = project(tmp_path, raw)
    before = run_stack("dev", config=raw, project_dir=directory)
    shutil.copyfile(retrained(tmp_path), directory / "example-models" / "iris.onnx")
    after = run_stack("dev", config=raw, project_dir=directory)

    old = {(m["kind"], m["metadata"]["name"]): m for m in before.manifests()}
    new = {(m["kind"], m["metadata"]["name"]): m for m in after.manifests()}
    changes = {key: changed_fields(old[key], new[key]) for key in old}

    assert set(old) == set(new)
    assert {key: fields for key, fields in changes.items() if fields} == {("Deployment", "iris"): [field]}
    built = {name: (images(before)[name], images(after)[name]) for name in images(before)}
    assert [name for name, (a, b) in built.items() if a != b] == []  # the same build inputs: only the context moved
    assert before.outputs["models"]["iris"]["image"] == after.outputs["models"]["iris"]["image"]
    assert before.outputs["models"]["iris"]["modelImage"] != after.outputs["models"]["iris"]["modelImage"]


def test_a_size_limit_below_the_models_size_stops_the_program_naming_the_key(tmp_path):
    raw = config()
    raw["ml-platform:models"]["iris"]["model"]["sizeLimit"] = "1Ki"
    directory = project(tmp_path, raw)
    with pytest.raises(ProgramError) as caught:
        run_stack("dev", config=raw, project_dir=directory)
    (problem,) = caught.value.problems
    size = (directory / "example-models" / "iris.onnx").stat().st_size
    assert problem.startswith(
        f"Pulumi.dev.yaml: models.iris.model.sizeLimit: 1Ki is less than the model's {size} bytes"
    )
