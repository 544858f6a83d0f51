"""Decoding the stack config: the engine's config map (or a stack file's values) -> raw values -> `StackConfig`.

Everything a user can get wrong is reported here, all problems at once, one line each, naming the stack file and
the full key path (`Pulumi.dev.yaml: models.iris.replicas: min (5) must be <= max (3)`). Nothing past this package
re-validates: the components trust these objects.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from components.config.problems import ConfigError, did_you_mean, shown, unknown_keys, validate_model
from components.config.rules import (
    canary_name_clashes,
    model_name_problem,
    release_rules,
    stack_rules,
    typed_model_rules,
)
from components.config.schema import KUBERNETES_MINOR, ModelConfig, RuntimeConfig, StackConfig, TopLevelConfig
from components.config.source_rules import StackFacts, delivery_problems, runtime_problems
from conventions import OLDEST_SUPPORTED_KUBERNETES, PRODUCTION, PROJECT

# Top-level keys under `ml-platform:` and what they hold (also the did-you-mean vocabulary).
TOP_LEVEL_KEYS = (
    "environment",
    "namespace",
    "createNamespace",
    "registry",
    "registryPassword",
    "builder",
    "allowLoadBalancer",
    "imagePullSecrets",
    "runtime",
    "modelDelivery",
    "kubernetesVersion",
    "defaults",
    "models",
)


# The top-level keys that hold objects, lists or booleans. Every other value (a secret above all) is a string as
# the user set it, even when it reads like JSON: `pulumi config set --secret gcpKey '{"type": ...}'`.
_STRUCTURED_KEYS = (
    "createNamespace",
    "allowLoadBalancer",
    "registry",
    "imagePullSecrets",
    "runtime",
    "defaults",
    "models",
)


def raw_project_config(config: Mapping[str, Any], project: str = PROJECT) -> dict[str, Any]:
    """The `<project>:*` keys of an engine config map, prefix stripped, structured values JSON-decoded.

    The language host passes every value as a string; objects, lists and booleans arrive JSON-encoded.
    """
    prefix = f"{project}:"
    raw: dict[str, Any] = {}
    for key, value in config.items():
        if not key.startswith(prefix):
            continue
        name = key[len(prefix) :]
        if name in _STRUCTURED_KEYS and isinstance(value, str) and (value[:1] in "{[" or value in ("true", "false")):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass  # a plain string that happens to start with a brace
        raw[name] = value
    return raw


def parse_engine_config(
    config: Mapping[str, Any],
    secret_keys: Iterable[str],
    *,
    stack_file: str,
    project: str = PROJECT,
    project_dir: Path | None = None,
) -> StackConfig:
    """Parse config as the language host hands it to a program: every `<project>:*` key of the engine's map
    (values as strings) and the fully qualified keys that are secrets. Raises `ConfigError`."""
    prefix = f"{project}:"
    return parse_stack_config(
        raw_project_config(config, project),
        stack_file=stack_file,
        secret_keys={key[len(prefix) :] for key in secret_keys if key.startswith(prefix)},
        project_dir=project_dir,
    )


def parse_stack_config(
    raw: Mapping[str, Any],
    *,
    stack_file: str,
    secret_keys: set[str] | frozenset[str] = frozenset(),
    project_dir: Path | None = None,
) -> StackConfig:
    """Parse the raw `ml-platform:*` values (prefix stripped) into a `StackConfig`.

    `secret_keys` are the (prefix-stripped) keys that are Pulumi secrets. With `project_dir`, build contexts must
    exist under it (the program passes its working directory, where Pulumi runs it). Raises `ConfigError` listing
    every problem, each prefixed with `stack_file`.
    """
    problems = _top_level_key_problems(raw, secret_keys)

    defaults = raw.get("defaults", {})
    if not isinstance(defaults, dict):
        problems.append(f"defaults: must be a mapping of model settings, got {shown(defaults)}")
        defaults = {}
    else:
        problems.extend(unknown_keys(ModelConfig, defaults, "defaults"))

    version = raw.get("kubernetesVersion", OLDEST_SUPPORTED_KUBERNETES)
    facts = StackFacts(
        production=raw.get("environment") == PRODUCTION,
        has_registry=isinstance(raw.get("registry"), dict),
        project_dir=project_dir,
        kubernetes_version=version if isinstance(version, str) and KUBERNETES_MINOR.match(version) else None,
    )
    models = _parse_models(raw, defaults, facts, problems)
    problems.extend(unknown_keys(RuntimeConfig, raw.get("runtime"), "runtime"))
    models_raw = raw.get("models")
    merged = {
        name: deep_merge(defaults, model) if isinstance(model, dict) else model
        for name, model in (models_raw.items() if isinstance(models_raw, dict) else ())
    }
    problems.extend(runtime_problems(raw, merged, facts))

    top = {k: v for k, v in raw.items() if k in TOP_LEVEL_KEYS and k not in ("defaults", "models", "registryPassword")}
    stack = validate_model(TopLevelConfig, top, "", problems)
    if stack is not None:
        problems.extend(stack_rules(stack, raw))
        problems.extend(delivery_problems(stack))

    if problems:
        raise ConfigError([f"{stack_file}: {problem}" for problem in problems])
    assert stack is not None
    secret_values = {key: raw[key] for key in secret_keys if key in raw and isinstance(raw[key], str)}
    return StackConfig(**stack.model_dump(), models=models, secret_values=secret_values)


def _top_level_key_problems(raw: Mapping[str, Any], secret_keys: set[str] | frozenset[str]) -> list[str]:
    """Unknown top-level keys (with a did-you-mean), unused secrets, and secret keys that are not secrets."""
    problems: list[str] = []
    report = problems.append
    referenced = referenced_secret_keys(raw)
    for key in raw:
        if key in TOP_LEVEL_KEYS or key in referenced:
            continue
        if key in secret_keys:
            report(f"{PROJECT}:{key}: secret is not used; reference it from a model's env as {{secretKey: {key}}}")
            continue
        report(f"{PROJECT}:{key}: unknown config key{did_you_mean(key, TOP_LEVEL_KEYS, prefix=PROJECT + ':')}")

    for key in sorted(referenced | {"registryPassword"} & set(raw)):
        if key not in raw:
            continue  # reported where it is referenced
        if key not in secret_keys:
            report(f"{PROJECT}:{key}: must be a secret; set it with `pulumi config set --secret {key} <value>`")
        elif not isinstance(raw[key], str):
            report(f"{PROJECT}:{key}: must be a string")
    return problems


def _parse_models(
    raw: Mapping[str, Any], defaults: Mapping[str, Any], facts: StackFacts, problems: list[str]
) -> dict[str, ModelConfig]:
    """Each model merged over `defaults` and parsed; its problems are appended to `problems`."""
    report = problems.append
    models_raw = raw.get("models")
    models: dict[str, ModelConfig] = {}
    if models_raw is None:
        report(f"models: required; add at least one model under {PROJECT}:models")
    elif not isinstance(models_raw, dict) or not models_raw:
        report(f"models: must be a non-empty mapping of model name -> settings, got {shown(models_raw)}")
    else:
        for name, model_raw in models_raw.items():
            path = f"models.{name}"
            name_problem = model_name_problem(str(name))
            if name_problem:
                report(f"{path}: {name_problem}")
            if not isinstance(model_raw, dict):
                report(f"{path}: must be a mapping of settings (version, build or image, ...), got {shown(model_raw)}")
                continue
            problems.extend(unknown_keys(ModelConfig, model_raw, path))
            merged = deep_merge(defaults, model_raw)
            model = validate_model(ModelConfig, merged, path, problems, own=model_raw, defaults=defaults)
            problems.extend(release_rules(merged, path, facts))
            if model is not None:
                problems.extend(typed_model_rules(path, model, raw))
                if not name_problem:
                    models[str(name)] = model
        problems.extend(canary_name_clashes(models))
    return models


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`override` on top of `base`, merging nested mappings key by key (lists and scalars are replaced)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def referenced_secret_keys(raw: Mapping[str, Any]) -> set[str]:
    """Config keys named by `{secretKey: ...}` env values anywhere in defaults or models."""
    found: set[str] = set()
    blocks = [raw.get("defaults")]
    if isinstance(raw.get("models"), dict):
        blocks.extend(raw["models"].values())
    for block in blocks:
        env = block.get("env") if isinstance(block, dict) else None
        if isinstance(env, dict):
            for value in env.values():
                if isinstance(value, dict) and isinstance(value.get("secretKey"), str):
                    found.add(value["secretKey"])
    return found
