"""The config rules that span several keys, each problem one line naming its key path.

`release_rules` reads the raw (defaults-merged) mapping of a model, so it runs even when other keys of the model
do not parse and every problem is reported in one go; a pydantic model validator would run only once every field
parses. `typed_model_rules` and `stack_rules` need parsed values and run once their model is valid.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeGuard

from components.config.schema import (
    DNS_1123_SUBDOMAIN,
    IMAGE_VOLUME,
    MODEL_DIR_ENV,
    MODEL_NAME_MAX,
    MODEL_PATH_ENV,
    RESERVED_ENV,
    ModelConfig,
    Replicas,
    SecretRef,
    TopLevelConfig,
)
from components.config.source_rules import StackFacts, artifact_problems, image_source_problems, image_volume_problem
from components.labels import workload_name
from components.quantities import parse_quantity
from conventions import (
    CANARY,
    PRODUCTION_MIN_REPLICAS,
    PROJECT,
    canary_track_floor,
)

_DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# An image tag (the version becomes one) that is also a valid label value (<= 63, alphanumeric at both ends).
_VERSION = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def release_rules(model: Mapping[str, Any], path: str, facts: StackFacts) -> list[str]:
    """Rules spanning several keys of one model, checked on the raw (defaults-merged) mapping.

    They run even when other keys of the model are invalid, so every problem is reported in one go.
    """
    problems: list[str] = []
    replicas = model.get("replicas", {})
    if isinstance(replicas, dict):
        low, high = replicas.get("min", Replicas().min), replicas.get("max", Replicas().max)
        if _is_count(low) and _is_count(high) and low > high:
            problems.append(f"{path}.replicas: min ({low}) must be <= max ({high})")
        if facts.production and _is_count(low) and low < PRODUCTION_MIN_REPLICAS:
            problems.append(
                f"{path}.replicas.min: production needs at least {PRODUCTION_MIN_REPLICAS} replicas to survive "
                f"a node drain, got {low}"
            )
    releases: list[tuple[str, Mapping[str, Any]]] = [(path, model)]
    canary = model.get("canary")
    if isinstance(canary, dict):
        releases.append((f"{path}.canary", canary))
        if canary.get("version") is not None and canary.get("version") == model.get("version"):
            problems.append(
                f"{path}.canary.version: {canary['version']!r} is the stable version; a canary needs a new one"
            )
        high = replicas.get("max", Replicas().max) if isinstance(replicas, dict) else None
        per_track = canary_track_floor(facts.production)
        if _is_count(high) and high < 2 * per_track:
            problems.append(
                f"{path}.replicas.max: a canary needs room for two versions of at least {per_track} pod"
                f"{'s' if per_track > 1 else ''} each{' in production' if facts.production else ''}; "
                f"set max >= {2 * per_track}, got {high}"
            )
    for where, release in releases:
        version = release.get("version")
        if isinstance(version, str) and not _VERSION.match(version):
            problems.append(
                f"{where}.version: {version!r} must be an image tag and label value "
                "(letters, digits, '.', '_', '-'; alphanumeric at both ends; <= 63 characters)"
            )
        has_build, has_image = release.get("build") is not None, release.get("image") is not None
        if release.get("model") is not None:
            if has_build or has_image:
                problems.append(
                    f"{where}: set `model` (served by the stack's runtime) or `build`/`image` (your own server "
                    f"image), not both"
                )
            problems.extend(artifact_problems(release["model"], f"{where}.model", facts))
        elif has_build == has_image:
            problems.append(
                f"{where}: set exactly one of `build` (build from source) or `image` (a digest-pinned reference), "
                f"got {'both' if has_build else 'neither'}"
            )
        problems.extend(image_source_problems(release, where, facts))
    delivery = model.get("modelDelivery")
    if delivery is not None and all(release.get("model") is None for _, release in releases):
        # Silently ignored, it would read as if it mattered: a server image that carries its model mounts nothing.
        problems.append(f"{path}.modelDelivery: applies only to a model delivered apart (`model`); drop it")
    elif delivery == IMAGE_VOLUME and (problem := image_volume_problem(facts.kubernetes_version)):
        problems.append(f"{path}.modelDelivery: {problem}")
    return problems


def canary_name_clashes(models: Mapping[str, ModelConfig]) -> list[str]:
    """A model named like another model's canary track would share its Deployment, HPA and image names."""
    problems = []
    for name, model in models.items():
        clash = workload_name(name, CANARY)
        if model.canary is not None and clash in models:
            problems.append(
                f"models.{clash}: clashes with the canary of models.{name} (both would own the Deployment and HPA "
                f"{clash!r}); rename the model"
            )
    return problems


def _is_count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def typed_model_rules(path: str, model: ModelConfig, raw: Mapping[str, Any]) -> list[str]:
    """Rules that need parsed values (quantities, env): checked once the model itself is valid."""
    problems: list[str] = []
    limit = model.resources.cpu_limit
    if limit is not None and parse_quantity(limit) < parse_quantity(model.resources.cpu):
        problems.append(f"{path}.resources.cpuLimit: {limit} must be >= the request cpu ({model.resources.cpu})")
    if model.shutdown.termination_grace_period_seconds <= model.shutdown.pre_stop_sleep_seconds:
        problems.append(
            f"{path}.shutdown.terminationGracePeriodSeconds: {model.shutdown.termination_grace_period_seconds} must be "
            f"longer than preStopSleepSeconds ({model.shutdown.pre_stop_sleep_seconds}) to leave time to drain requests"
        )
    # A model delivered apart from the runtime, on its stable track or its canary's.
    delivered = model.model is not None or (model.canary is not None and model.canary.model is not None)
    for env_name, value in model.env.items():
        env_path = f"{path}.env.{env_name}"
        if not _ENV_NAME.match(env_name):
            problems.append(f"{env_path}: not a valid environment variable name (letters, digits, '_')")
        elif env_name in RESERVED_ENV:
            problems.append(f"{env_path}: set by the platform ({', '.join(RESERVED_ENV)}); choose another name")
        elif env_name == MODEL_DIR_ENV and delivered:
            problems.append(
                f"{env_path}: set by the platform to where `model` is mounted; choose another name, or drop `model`"
            )
        elif env_name == MODEL_PATH_ENV and delivered:
            # The server refuses MODEL_PATH beside the MODEL_DIR the platform sets: a pod that would never start.
            problems.append(
                f"{env_path}: the server reads `model` from {MODEL_DIR_ENV}, and refuses {MODEL_PATH_ENV} beside it; "
                "drop this key, or drop `model`"
            )
        if isinstance(value, SecretRef) and value.secret_key not in raw:
            problems.append(
                f"{env_path}.secretKey: {PROJECT}:{value.secret_key} is not set; run "
                f"`pulumi config set --secret {value.secret_key} <value>`"
            )
    return problems


def model_name_problem(name: str) -> str | None:
    if len(name) > MODEL_NAME_MAX:
        return f"model name {name!r} is longer than {MODEL_NAME_MAX} characters"
    if not _DNS_1035_LABEL.match(name):
        return (
            f"model name {name!r} must be a DNS label: lowercase letters, digits and '-', "
            "starting with a letter and ending with a letter or digit (e.g. iris, fraud-v2)"
        )
    return None


def stack_rules(stack: TopLevelConfig, raw: Mapping[str, Any]) -> list[str]:
    """Rules on the top-level keys, checked once they parse: names Kubernetes accepts, and registry credentials
    that come as a pair."""
    problems: list[str] = []
    report = problems.append
    if not _DNS_1123_LABEL.match(stack.namespace) or len(stack.namespace) > 63:
        report(f"namespace: {stack.namespace!r} is not a DNS-1123 label (lowercase letters, digits, '-'; <= 63)")
    for index, secret in enumerate(stack.image_pull_secrets):
        if not DNS_1123_SUBDOMAIN.match(secret) or len(secret) > 253:
            report(f"imagePullSecrets[{index}]: {secret!r} is not a Secret name (a DNS-1123 subdomain)")
    if stack.registry and stack.registry.username and "registryPassword" not in raw:
        report("registry.username: set, but no password; run `pulumi config set --secret registryPassword <password>`")
    if "registryPassword" in raw and not (stack.registry and stack.registry.username):
        # ModelImage logs in only with a username: without one the password would be silently ignored.
        report(f"{PROJECT}:registryPassword: set, but registry.username is not; the registry login needs both")
    return problems
