"""kubernetes-validate's JSON schemas, each read and compiled once per process.

`kubernetes_validate.utils.validate()` reads two files on every call: the object's schema and its version's
`_definitions.json` (1.8 MB, about 9 ms to parse). A 50-model stack (251 objects, 7 versions) made 1,757 calls,
parsed 3,514 files and spent 31 s of its 37 s render in `json.load`. `validator()` finds the same file by the
same rules, builds the same draft 2020-12 validator over the same registry, and keeps it: each schema file and
each version's definitions are parsed once, so that render validates in about 1 s.

Only the lookup moves here; what a validator accepts and the errors it raises are jsonschema's, unchanged.
The cache holds about 15 MB of parsed definitions per version, for the life of the process.

`fast_validator()` compiles the same schema, over the same parsed files, with jsonschema-rs (Rust): it checks
those 1,757 objects and versions in about 0.02 s where jsonschema's walk takes 1.7 s. `tools.validate` uses it
only to pass a valid object; any object it does not pass is checked again by jsonschema, which decides and words
the error (see `tools.validate._check`).
"""

from __future__ import annotations

import functools
import re

import jsonschema
import jsonschema_rs
from kubernetes_validate import utils as kv
from referencing import Registry, Resource

SCHEMA_ROOT = "kubernetes-json-schema"


def validator(version: str, api_version: str, kind: str, *, strict: bool = True) -> jsonschema.Draft202012Validator:
    """The validator kubernetes-validate would build for ``kind`` in ``api_version`` on Kubernetes ``version``.

    Raises `kv.SchemaNotFoundError` for a kind the version has no schema for, and `kv.VersionNotSupportedError`
    for a version newer than the installed schemas, as `kv.validate` does.
    """
    shipped, filename = _locate(version, api_version, kind)
    compiled = _compiled(shipped, strict, filename)
    if compiled is None:
        raise kv.SchemaNotFoundError(version=kv.major_minor(version), kind=kind, api_version=api_version)
    return compiled


def fast_validator(
    version: str, api_version: str, kind: str, *, strict: bool = True
) -> jsonschema_rs.Draft202012Validator:
    """The same schema as `validator()`'s, compiled by jsonschema-rs; raises as `validator()` raises.

    Formats are not asserted, as jsonschema asserts none without a format checker.
    """
    shipped, filename = _locate(version, api_version, kind)
    compiled = _fast_compiled(shipped, strict, filename)
    if compiled is None:
        raise kv.SchemaNotFoundError(version=kv.major_minor(version), kind=kind, api_version=api_version)
    return compiled


def _locate(version: str, api_version: str, kind: str) -> tuple[str, str]:
    """(the shipped schema version, the schema's file name), found as kv.validate finds them."""
    version = version.removeprefix("v")  # kv.validate accepts "v1.31" too
    # As kv.validate names the file: rbac.authorization.k8s.io/v1 -> rbac-v1, then `<kind>-<that>.json`.
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    return _shipped_version(version), f"{kind.lower()}-{group_version}.json"


@functools.cache
def _shipped_version(version: str) -> str:
    """ "1.31.0": the newest schema shipped that is not newer than ``version`` ("1.31"), chosen as kv.validate
    chooses it (its string comparison of versions included, so both always pick the same schemas)."""
    if kv.major_minor(version) > kv.latest_version():
        raise kv.VersionNotSupportedError(version=kv.major_minor(version))
    return [v for v in kv.all_versions() if kv.major_minor(v) <= kv.major_minor(version)][-1]


def _path(shipped: str, strict: bool, filename: str) -> str:
    return f"{SCHEMA_ROOT}/v{shipped}-local{'-strict' if strict else ''}/{filename}"


@functools.cache
def _schema(shipped: str, strict: bool, filename: str) -> dict | None:
    """One schema file, parsed; None (remembered too) when the version has no such file."""
    try:
        return kv.schema_contents(_path(shipped, strict, filename), shipped)
    except FileNotFoundError:
        return None


@functools.cache
def _compiled(shipped: str, strict: bool, filename: str) -> jsonschema.Draft202012Validator | None:
    """The validator for one schema file; None when the version has no such file."""
    schema = _schema(shipped, strict, filename)
    if schema is None:
        return None
    registry = _definitions(shipped, strict) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


@functools.cache
def _fast_compiled(shipped: str, strict: bool, filename: str) -> jsonschema_rs.Draft202012Validator | None:
    """jsonschema-rs's validator for one schema file; None when the version has no such file."""
    schema = _schema(shipped, strict, filename)
    if schema is None:
        return None
    return jsonschema_rs.Draft202012Validator(
        schema, registry=_fast_definitions(shipped, strict), validate_formats=False
    )


@functools.cache
def _definitions_contents(shipped: str, strict: bool) -> dict:
    """A version's `_definitions.json`, parsed: every schema of that version refers into it."""
    return kv.schema_contents(_path(shipped, strict, "_definitions.json"), shipped)


@functools.cache
def _definitions(shipped: str, strict: bool) -> Resource:
    return Resource.from_contents(_definitions_contents(shipped, strict))


@functools.cache
def _fast_definitions(shipped: str, strict: bool) -> jsonschema_rs.Registry:
    definitions = _definitions_contents(shipped, strict)
    return jsonschema_rs.Registry([(definitions["$id"], definitions)])


def clear() -> None:
    """Forget every schema read so far (for tests that count the reads)."""
    cached_functions = (_shipped_version, _schema, _compiled, _fast_compiled)
    for cached in (*cached_functions, _definitions_contents, _definitions, _fast_definitions):
        cached.cache_clear()
