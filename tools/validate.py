"""Strict schema validation of rendered Kubernetes objects, for every supported Kubernetes version.

Uses kubernetes-validate's strict schemas: an unknown apiVersion/kind or an unknown field is an error.
Each schema is read and compiled once per process (`tools.schema_cache`), not once per object and version.
A compiled (Rust) validator passes the valid objects; jsonschema checks every other one and words its error.
The supported range runs from conventions' ``OLDEST_SUPPORTED_KUBERNETES`` (also the stack config's floor) to the
newest version the installed kubernetes-validate ships, so upgrading that package widens the range without a code
change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema
from kubernetes_validate import utils as kv
from packaging.version import Version

from conventions import OLDEST_SUPPORTED_KUBERNETES

# Schema problems name an object exactly as policy violations do: `Kind namespace/name`.
from policy.violation import object_ref
from tools import schema_cache


@dataclass(frozen=True)
class SchemaProblem:
    """One object that fails its schema, with the Kubernetes versions it fails for."""

    object_name: str
    field: str
    message: str
    versions: tuple[str, ...]

    def __str__(self) -> str:
        where = f"{self.object_name}: {self.field}: " if self.field else f"{self.object_name}: "
        return f"{where}{self.message} (Kubernetes {version_span(self.versions)})"


def supported_versions() -> list[str]:
    """Kubernetes minor versions ("1.31", "1.32", ...) validated against, oldest first."""
    minors = {kv.major_minor(v) for v in kv.all_versions()}
    return sorted((m for m in minors if Version(m) >= Version(OLDEST_SUPPORTED_KUBERNETES)), key=Version)


def version_span(versions: Iterable[str]) -> str:
    """ "1.31-1.37" for a contiguous run of the supported versions, else a comma-separated list."""
    ordered = sorted(set(versions), key=Version)
    supported = supported_versions()
    if len(ordered) > 1 and ordered == supported[supported.index(ordered[0]) :][: len(ordered)]:
        return f"{ordered[0]}-{ordered[-1]}"
    return ", ".join(ordered)


def _field_path(path: Iterable[Any]) -> str:
    """`spec.template.spec.containers[0].image` from a jsonschema error path."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _describe(error: jsonschema.ValidationError) -> tuple[str, str]:
    """(field, message) for a schema error; an unknown field is named itself, not its parent."""
    parent = _field_path(error.path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        known = set(schema.get("properties", {}))
        unknown = sorted(str(key) for key in error.instance if key not in known)
        if unknown:
            fields = [f"{parent}.{key}" if parent else key for key in unknown]
            return ", ".join(fields), "unknown field" if len(fields) == 1 else "unknown fields"
    return parent, error.message


def _check(obj: Mapping[str, Any], version: str, *, plain: bool) -> tuple[str, str] | None:
    """(field, message) when ``obj`` is invalid for Kubernetes ``version``, else None.

    ``plain``: `obj` holds only JSON's own types (`_plain_json`), so jsonschema-rs may pass it. What jsonschema-rs
    passes, jsonschema passes too: the Kubernetes schemas use only type, enum, properties, additionalProperties,
    required, items, oneOf and $ref (formats are asserted by neither), which the two read alike for JSON values
    (tests/render/test_validate_precheck.py holds them to it). Everything else, invalid or not plain, is decided by
    jsonschema exactly as before, so every verdict and message is jsonschema's.
    """
    try:
        if plain and _passes_fast(obj, version):
            return None
        schema_cache.validator(version, obj["apiVersion"], obj["kind"]).validate(dict(obj))
    except jsonschema.ValidationError as error:
        return _describe(error)
    except kv.SchemaNotFoundError:
        return "apiVersion", f"no schema for kind {obj.get('kind')!r} in apiVersion {obj.get('apiVersion')!r}"
    return None


def _passes_fast(obj: Mapping[str, Any], version: str) -> bool:
    """True when jsonschema-rs finds ``obj`` valid; False when it does not, or cannot read it."""
    validator = schema_cache.fast_validator(version, obj["apiVersion"], obj["kind"])
    try:
        return validator.is_valid(obj)
    except ValueError:  # a value it cannot convert (the plain-JSON check should have kept it away)
        return False


def _plain_json(value: Any) -> bool:
    """True when ``value`` is built only of dict (string keys), list, str, int, float, bool and None.

    jsonschema-rs reads a tuple as an array and a Decimal as a number, where jsonschema rejects both.
    """
    if isinstance(value, dict):
        return all(isinstance(key, str) and _plain_json(item) for key, item in value.items())
    if isinstance(value, list):
        return all(_plain_json(item) for item in value)
    return value is None or isinstance(value, (str, int, float))


def validate_objects(
    objects: Iterable[Mapping[str, Any]], versions: Iterable[str] | None = None
) -> list[SchemaProblem]:
    """Validate every object strictly against every version; one problem per object and distinct error."""
    versions = list(versions) if versions is not None else supported_versions()
    problems: list[SchemaProblem] = []
    for obj in objects:
        missing = [key for key in ("apiVersion", "kind") if not obj.get(key)]
        if missing:
            problems.append(SchemaProblem(object_ref(obj), missing[0], "missing", tuple(versions)))
            continue
        failures: dict[tuple[str, str], list[str]] = {}
        plain = _plain_json(obj)
        for version in versions:
            found = _check(obj, version, plain=plain)
            if found:
                failures.setdefault(found, []).append(version)
        problems.extend(
            SchemaProblem(object_ref(obj), field, message, tuple(failed))
            for (field, message), failed in failures.items()
        )
    return problems
