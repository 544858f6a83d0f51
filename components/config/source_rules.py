"""Config rules on where images come from: references, builds, the stack's `runtime`, a model's `model` artifact,
and how that artifact reaches the pods (`modelDelivery`, against the stack's `kubernetesVersion`).

Like `rules.py`, they read raw (defaults-merged) mappings, so they run even when other keys do not parse.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.config.schema import IMAGE_VOLUME, TopLevelConfig
from components.model_artifact import onnx_problem
from conventions import (
    IMAGE_VOLUME_DEFAULT_ON,
    OLDEST_SUPPORTED_KUBERNETES,
    PROJECT,
    minor_version,
    parse_image_reference,
)


@dataclass(frozen=True)
class StackFacts:
    """What the model rules need to know about the stack, read from the raw config (valid or not)."""

    production: bool
    has_registry: bool
    project_dir: Path | None = None
    # The stack's `kubernetesVersion` when it is a well-formed minor version ("1.34"), else None.
    kubernetes_version: str | None = OLDEST_SUPPORTED_KUBERNETES


def image_source_problems(release: Mapping[str, Any], where: str, facts: StackFacts) -> list[str]:
    """The `image` and `build` keys of a release or of the stack's `runtime`: pinning, production, the registry,
    the build context and the CA file."""
    problems: list[str] = []
    has_build = release.get("build") is not None
    if isinstance(release.get("image"), str):
        problems.extend(_image_problems(release["image"], f"{where}.image", facts))
    if has_build and facts.production:
        problems.append(
            f"{where}.build: production deploys only images pinned by digest; promote one "
            "(`make promote FROM=dev TO=prod`) and set `image`"
        )
    if has_build and not facts.has_registry:
        problems.append(f"{where}.build: building needs {PROJECT}:registry.server to push to")
    build = release.get("build")
    if facts.project_dir is not None and isinstance(build, dict) and isinstance(build.get("context"), str):
        if not (facts.project_dir / build["context"]).is_dir():
            problems.append(f"{where}.build.context: {build['context']!r} is not a directory of the project")
    if facts.project_dir is not None and isinstance(build, dict) and isinstance(build.get("caFile"), str):
        ca_problem = _ca_file_problem(facts.project_dir, build["caFile"])
        if ca_problem:
            problems.append(f"{where}.build.caFile: {ca_problem}")
    return problems


def artifact_problems(artifact: Any, where: str, facts: StackFacts) -> list[str]:
    """A release's `model`: exactly one of `path` and `image`; a path is an ONNX file of the project (checked
    offline, before anything is registered) and is packaged only outside production; an image is pinned there."""
    if not isinstance(artifact, dict):
        return []  # the schema reports the type
    problems: list[str] = []
    path, image = artifact.get("path"), artifact.get("image")
    if (path is None) == (image is None):
        problems.append(
            f"{where}: set exactly one of `path` (an .onnx file the platform packages) or `image` (a model image "
            f"pinned by digest), got {'both' if path is not None else 'neither'}"
        )
    if isinstance(image, str):
        problems.extend(_image_problems(image, f"{where}.image", facts))
    if not isinstance(path, str) or not path:
        return problems
    if facts.production:
        problems.append(
            f"{where}.path: production deploys only model images pinned by digest; promote one "
            "(`make promote FROM=dev TO=prod`) and set `model.image`"
        )
    if not facts.has_registry:
        problems.append(f"{where}.path: packaging a model needs {PROJECT}:registry.server to push its image to")
    if facts.project_dir is not None:
        file = facts.project_dir / path
        # Inside the project, read as written (a models/ folder may be a link to a shared disk): the stack file
        # must mean the same file on every machine and in CI.
        inside = not Path(path).is_absolute() and ".." not in Path(os.path.normpath(path)).parts
        if not inside or not file.is_file():
            problems.append(f"{where}.path: {path!r} is not a file of the project")
        elif problem := onnx_problem(file):
            # The reader names the file by its absolute path; the stack file names it as written.
            problems.append(f"{where}.path: {problem.replace(str(file), repr(path))}")
    return problems


def runtime_problems(raw: Mapping[str, Any], models: Mapping[str, Any], facts: StackFacts) -> list[str]:
    """The stack's `runtime`: required once a model sets `model`; exactly one of `build` and `image`, each checked
    as a model's own."""
    runtime = raw.get("runtime")
    uses_runtime = sorted(name for name, model in models.items() if _sets_model(model))
    if runtime is None:
        if uses_runtime:
            return [
                f"runtime: required, since models.{uses_runtime[0]}.model needs a server to run on: "
                "{build: {context: ./model}} or {image: <repository>@sha256:<digest>}"
            ]
        return []
    if not isinstance(runtime, dict):
        return []  # the schema reports the type
    problems: list[str] = []
    has_build, has_image = runtime.get("build") is not None, runtime.get("image") is not None
    if has_build == has_image:
        problems.append(
            "runtime: set exactly one of `build` (build the model server from source) or `image` (a digest-pinned "
            f"reference), got {'both' if has_build else 'neither'}"
        )
    problems.extend(image_source_problems(runtime, "runtime", facts))
    return problems


def _sets_model(model: Any) -> bool:
    if not isinstance(model, dict):
        return False
    canary = model.get("canary")
    return model.get("model") is not None or (isinstance(canary, dict) and canary.get("model") is not None)


def image_volume_problem(kubernetes_version: str | None) -> str | None:
    """Why the stack's Kubernetes version cannot deliver a model as an image volume, or None."""
    if kubernetes_version is None or minor_version(kubernetes_version) >= minor_version(IMAGE_VOLUME_DEFAULT_ON):
        return None
    return (
        f"imageVolume needs Kubernetes {IMAGE_VOLUME_DEFAULT_ON} or newer, where the ImageVolume feature gate is on "
        f"by default (the stack's kubernetesVersion is {kubernetes_version!r}); use initContainer, or raise "
        "kubernetesVersion once every node runs containerd 2.1+ or CRI-O 1.31+"
    )


def delivery_problems(stack: TopLevelConfig) -> list[str]:
    """The stack's `kubernetesVersion` within the supported range, and its `modelDelivery` possible there."""
    problems: list[str] = []
    if minor_version(stack.kubernetes_version) < minor_version(OLDEST_SUPPORTED_KUBERNETES):
        problems.append(
            f"kubernetesVersion: {stack.kubernetes_version!r} is older than the oldest supported version, "
            f"{OLDEST_SUPPORTED_KUBERNETES}"
        )
    elif stack.model_delivery == IMAGE_VOLUME and (problem := image_volume_problem(stack.kubernetes_version)):
        problems.append(f"modelDelivery: {problem}")
    return problems


def _ca_file_problem(project_dir: Path, ca_file: str) -> str | None:
    """Why `ca_file` (relative to the project, or absolute) cannot be the build's CA secret, or None.

    The program reads it when it builds; checked here, a bad path stops the program before it registers anything.
    """
    try:
        text = (project_dir / ca_file).read_text(encoding="utf-8")
    except OSError as error:
        return f"{ca_file!r} is not a readable file ({error.strerror or error})"
    except UnicodeDecodeError:
        return f"{ca_file!r} is not a PEM file of CA certificates (not text)"
    if "-----BEGIN CERTIFICATE-----" not in text:
        return f"{ca_file!r} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
    return None


def _image_problems(image: str, path: str, facts: StackFacts) -> list[str]:
    if any(c.isspace() for c in image) or not image:
        return [f"{path}: {image!r} is not an image reference"]
    reference = parse_image_reference(image)
    pinned, tag = reference.is_pinned, reference.tag
    if facts.production and not pinned:
        return [f"{path}: production needs an image pinned by digest (<repository>@sha256:<64 hex>), got {image!r}"]
    if "@" in image and not pinned:
        return [f"{path}: {image!r} has a malformed digest; expected @sha256:<64 lowercase hex>"]
    if not pinned and (tag is None or tag == "latest"):
        return [f"{path}: {image!r} floats; pin a version tag or, better, a digest (@sha256:...)"]
    return []
