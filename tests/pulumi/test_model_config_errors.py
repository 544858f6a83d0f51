"""Config errors of models delivered apart from the runtime (`model`, `runtime`, `modelDelivery`): one line each,
naming the key, before anything is registered."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from components.config import ConfigError, parse_stack_config
from conventions import ROOT

DIGEST = "sha256:" + "0123456789abcdef" * 4
RUNTIME = f"registry.example.com/ml/model-server@{DIGEST}"
MODEL_IMAGE = f"registry.example.com/ml/models/iris@{DIGEST}"
EXAMPLE_ONNX = ROOT / "model" / "artifacts" / "breast-cancer.onnx"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project directory with a real ONNX model at models/iris.onnx and a runtime context at model/."""
    (tmp_path / "models").mkdir()
    shutil.copyfile(EXAMPLE_ONNX, tmp_path / "models" / "iris.onnx")
    (tmp_path / "models" / "notes.onnx").write_text("not a model\n")
    (tmp_path / "model").mkdir()
    return tmp_path


def dev(**changes) -> dict:
    model = {"version": "1.0.0", "model": {"path": "./models/iris.onnx"}}
    raw = {
        "namespace": "ml-dev",
        "registry": {"server": "localhost:5001"},
        "runtime": {"build": {"context": "./model"}},
        "models": {"iris": model},
    }
    for key, value in changes.items():
        if key.startswith("model_"):
            model[key.removeprefix("model_")] = value
        elif value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    return raw


def prod(**model_changes) -> dict:
    model = {"version": "1.0.0", "model": {"image": MODEL_IMAGE}, "replicas": {"min": 2, "max": 4}, **model_changes}
    return {
        "environment": "production",
        "namespace": "ml-prod",
        "runtime": {"image": RUNTIME},
        "models": {"iris": model},
    }


def problems_of(raw: dict, project: Path | None = None, stack_file: str = "Pulumi.dev.yaml") -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(raw, stack_file=stack_file, project_dir=project)
    lines = caught.value.problems
    assert all(line.startswith(f"{stack_file}: ") and "\n" not in line for line in lines)
    return [line.removeprefix(f"{stack_file}: ") for line in lines]


def test_a_model_from_a_path_and_a_built_runtime_parse(project):
    stack = parse_stack_config(dev(), stack_file="Pulumi.dev.yaml", project_dir=project)

    assert stack.models["iris"].model is not None
    assert stack.models["iris"].model.path == "./models/iris.onnx"
    assert stack.runtime is not None and stack.runtime.build is not None
    assert stack.delivery(stack.models["iris"]) == "initContainer"


def test_prod_with_pinned_runtime_and_model_images_parses():
    stack = parse_stack_config(prod(), stack_file="Pulumi.prod.yaml")

    assert stack.models["iris"].model is not None and stack.models["iris"].model.image == MODEL_IMAGE


def test_a_missing_model_file_names_the_key(project):
    raw = dev(model_model={"path": "./models/missing.onnx"})

    assert problems_of(raw, project) == ["models.iris.model.path: './models/missing.onnx' is not a file of the project"]


def test_a_file_that_is_not_an_onnx_model_is_refused_offline(project):
    [line] = problems_of(dev(model_model={"path": "./models/notes.onnx"}), project)

    assert line.startswith("models.iris.model.path: './models/notes.onnx' is not an ONNX model: ")


@pytest.mark.parametrize(
    ("artifact", "got"), [({"path": "./models/iris.onnx", "image": MODEL_IMAGE}, "both"), ({}, "neither")]
)
def test_a_model_is_exactly_one_of_path_or_image(project, artifact, got):
    assert problems_of(dev(model_model=artifact), project) == [
        f"models.iris.model: set exactly one of `path` (an .onnx file the platform packages) or `image` "
        f"(a model image pinned by digest), got {got}"
    ]


@pytest.mark.parametrize("key", ["build", "image"])
def test_a_model_with_both_model_and_its_own_server_image_is_refused(project, key):
    value = {"context": "./model"} if key == "build" else RUNTIME
    assert problems_of(dev(**{f"model_{key}": value}), project) == [
        "models.iris: set `model` (served by the stack's runtime) or `build`/`image` (your own server image), not both"
    ]


def test_production_refuses_an_unpinned_model_image():
    [line] = problems_of(prod(model={"image": "registry.example.com/ml/models/iris:1.0.0"}), stack_file="p.yaml")

    assert line.startswith("models.iris.model.image: production needs an image pinned by digest")


def test_production_refuses_a_model_path():
    first, second = problems_of(prod(model={"path": "./models/iris.onnx"}), stack_file="p.yaml")

    assert first.startswith("models.iris.model.path: production deploys only model images pinned by digest")
    assert second.startswith("models.iris.model.path: packaging a model needs ml-platform:registry.server")


def test_production_refuses_an_unpinned_runtime():
    raw = prod()
    raw["runtime"] = {"image": "registry.example.com/ml/model-server:2.0.0"}

    [line] = problems_of(raw, stack_file="p.yaml")

    assert line.startswith("runtime.image: production needs an image pinned by digest")


def test_production_refuses_building_the_runtime():
    raw = prod()
    raw["runtime"] = {"build": {"context": "./model"}}

    assert problems_of(raw, stack_file="p.yaml") == [
        "runtime.build: production deploys only images pinned by digest; promote one "
        "(`make promote FROM=dev TO=prod`) and set `image`",
        "runtime.build: building needs ml-platform:registry.server to push to",
    ]


def test_a_model_needs_a_runtime(project):
    [line] = problems_of(dev(runtime=None), project)

    assert line.startswith("runtime: required, since models.iris.model needs a server to run on")


@pytest.mark.parametrize(
    ("runtime", "got"), [({"build": {"context": "./model"}, "image": RUNTIME}, "both"), ({}, "neither")]
)
def test_the_runtime_is_exactly_one_of_build_or_image(project, runtime, got):
    [line] = problems_of(dev(runtime=runtime), project)

    assert line.startswith("runtime: set exactly one of `build`") and line.endswith(f"got {got}")


def test_packaging_a_model_needs_a_registry(project):
    raw = dev(registry=None, runtime={"image": RUNTIME})

    assert problems_of(raw, project) == [
        "models.iris.model.path: packaging a model needs ml-platform:registry.server to push its image to"
    ]


def test_an_unknown_runtime_key_suggests_the_known_one(project):
    raw = dev(runtime={"biuld": {"context": "./model"}})

    assert "runtime.biuld: unknown key; did you mean build?" in problems_of(raw, project)


def test_image_volumes_need_kubernetes_1_35(project):
    [line] = problems_of(dev(modelDelivery="imageVolume", kubernetesVersion="1.34"), project)

    assert line.startswith("modelDelivery: imageVolume needs Kubernetes 1.35 or newer")
    assert "'1.34'" in line and "use initContainer" in line


def test_the_default_kubernetes_version_is_the_oldest_supported_so_image_volumes_must_be_asked_for(project):
    [line] = problems_of(dev(modelDelivery="imageVolume"), project)

    assert "(the stack's kubernetesVersion is '1.31')" in line


def test_a_models_own_delivery_is_checked_against_the_stacks_version(project):
    [line] = problems_of(dev(model_modelDelivery="imageVolume", kubernetesVersion="1.33"), project)

    assert line.startswith("models.iris.modelDelivery: imageVolume needs Kubernetes 1.35 or newer")


def test_image_volumes_on_1_35_parse(project):
    stack = parse_stack_config(
        dev(modelDelivery="imageVolume", kubernetesVersion="1.35"), stack_file="Pulumi.dev.yaml", project_dir=project
    )

    assert stack.delivery(stack.models["iris"]) == "imageVolume"


@pytest.mark.parametrize("delivery", ["volume", "ImageVolume", "init"])
def test_delivery_is_init_container_or_image_volume(project, delivery):
    [line] = problems_of(dev(modelDelivery=delivery), project)

    assert line.startswith("modelDelivery: Input should be 'initContainer' or 'imageVolume'")


@pytest.mark.parametrize(("version", "why"), [("1.30", "older than the oldest"), ("v1.34", "not a Kubernetes minor")])
def test_kubernetes_version_is_a_supported_minor_version(project, version, why):
    [line] = problems_of(dev(kubernetesVersion=version), project)

    assert line.startswith("kubernetesVersion: ") and why in line


def test_model_dir_is_set_by_the_platform_for_a_model(project):
    assert problems_of(dev(model_env={"MODEL_DIR": "/elsewhere"}), project) == [
        "models.iris.env.MODEL_DIR: set by the platform to where `model` is mounted; choose another name, or drop "
        "`model`"
    ]


def test_model_path_beside_a_delivered_model_is_refused_before_the_server_would(project):
    assert problems_of(dev(model_env={"MODEL_PATH": "/app/x.onnx"}), project) == [
        "models.iris.env.MODEL_PATH: the server reads `model` from MODEL_DIR, and refuses MODEL_PATH beside it; drop "
        "this key, or drop `model`"
    ]


def test_a_canary_only_model_reserves_model_dir_too(project):
    # The stable track brings its own server image; only the canary is delivered apart from the runtime.
    image = "localhost:5001/own-server@sha256:" + "a" * 64
    raw = dev(
        model_model=None,
        model_image=image,
        model_env={"MODEL_DIR": "/elsewhere"},
        model_canary={"version": "1.1.0", "weight": 20, "model": {"path": "./models/iris.onnx"}},
    )
    raw["models"]["iris"].pop("model")

    assert (
        "models.iris.env.MODEL_DIR: set by the platform to where `model` is mounted; choose another name, or drop "
        "`model`" in problems_of(raw, project)
    )


@pytest.mark.parametrize("path", ["../outside.onnx", "/etc/hostname"])
def test_a_model_file_outside_the_project_is_refused(project, path):
    outside = project.parent / "outside.onnx"
    shutil.copyfile(project / "models" / "iris.onnx", outside)

    assert problems_of(dev(model_model={"path": path}), project) == [
        f"models.iris.model.path: {path!r} is not a file of the project"
    ]


def test_a_canarys_model_is_checked_like_the_models(project):
    raw = dev(model_canary={"version": "1.1.0", "weight": 20, "model": {"path": "./models/missing.onnx"}})

    assert "models.iris.canary.model.path: './models/missing.onnx' is not a file of the project" in problems_of(
        raw, project
    )


def test_model_delivery_on_a_model_without_model_is_refused(project):
    image = "localhost:5001/own-server@sha256:" + "a" * 64
    raw = dev(model_image=image, model_modelDelivery="initContainer")
    raw["models"]["iris"].pop("model")

    assert problems_of(raw, project) == [
        "models.iris.modelDelivery: applies only to a model delivered apart (`model`); drop it"
    ]
