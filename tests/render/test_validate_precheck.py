"""The compiled pre-check (jsonschema-rs) never passes an object that jsonschema rejects.

`tools.validate` lets jsonschema-rs pass valid objects and has jsonschema decide and word everything else, so the
render's verdicts and messages are jsonschema's only while jsonschema-rs is never more lenient. These tests hold
it to that on the schemas themselves (only keywords both read alike) and on many broken variants of real objects.
"""

import copy
import json
import math
import random
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from kubernetes_validate import utils as kv

from tools import schema_cache, validate
from tools.render import render_stack

from .test_validate import DEPLOYMENT

# The keywords the two validators were compared on: what the Kubernetes schemas use today (x-kubernetes-* and the
# annotations aside). A newer kubernetes-validate that adds one (a pattern, a minimum) fails here first.
KNOWN_KEYWORDS = {
    "$schema", "$id", "$defs", "$ref", "description", "type", "enum", "format",
    "properties", "additionalProperties", "required", "items", "oneOf",
}  # fmt: skip
_SUBSCHEMA_MAPS = {"properties", "$defs", "patternProperties", "dependentSchemas"}
_SUBSCHEMA_LISTS = {"allOf", "anyOf", "oneOf", "prefixItems"}


def _keywords(schema: Any, seen: Counter[str]) -> None:
    """Count the keywords used anywhere in ``schema`` (property names are not keywords)."""
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        seen[key] += 1
        if key in _SUBSCHEMA_MAPS:
            for sub in value.values():
                _keywords(sub, seen)
        elif key in _SUBSCHEMA_LISTS:
            for sub in value:
                _keywords(sub, seen)
        elif isinstance(value, dict) and not key.startswith("x-kubernetes-"):
            _keywords(value, seen)


@pytest.mark.parametrize("version", validate.supported_versions())
def test_the_schemas_use_only_keywords_both_validators_read_alike(version) -> None:
    shipped = schema_cache._shipped_version(version)
    directory = Path(kv.__file__).parent / Path(schema_cache._path(shipped, True, "x")).parent
    seen: Counter[str] = Counter()
    for path in directory.glob("*.json"):
        if path.name != "all.json":  # the list of every kind, which nothing validates against
            _keywords(json.loads(path.read_text()), seen)

    assert {key for key in seen if not key.startswith("x-kubernetes-")} <= KNOWN_KEYWORDS


# Values put in place of a field's: each a wrong or borderline type for some field of a Kubernetes object.
_REPLACEMENTS: list[Any] = [
    "x", "", 0, 1, -1, 1.0, 1.5, 2**40, 2**70, True, False, None, [], ["x"], [1], {}, {"x": 1}, {"name": "x"},
    math.nan, math.inf,
]  # fmt: skip


def _paths(value: Any, path: tuple = ()) -> list[tuple]:
    """Every path to a value inside ``value`` (dict keys and list indexes)."""
    found = [path] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


def _variant(obj: dict, rng: random.Random) -> dict:
    """``obj`` with one field replaced, removed, or joined by an unknown sibling."""
    broken = copy.deepcopy(obj)
    path = rng.choice(_paths(broken))
    parent = broken
    for part in path[:-1]:
        parent = parent[part]
    action = rng.random()
    if action < 0.7:
        parent[path[-1]] = copy.deepcopy(rng.choice(_REPLACEMENTS))
    elif action < 0.85 and isinstance(parent, dict):
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[f"{path[-1]}X"] = copy.deepcopy(parent[path[-1]])
    else:
        parent.append(copy.deepcopy(rng.choice(_REPLACEMENTS)))
    return broken


def test_what_the_pre_check_passes_jsonschema_passes_too() -> None:
    objects = render_stack("dev").objects + render_stack("prod").objects
    rng = random.Random(20261201)
    versions = validate.supported_versions()
    verdicts: Counter[tuple[bool, bool]] = Counter()
    for _ in range(1500):
        broken = _variant(rng.choice(objects), rng)
        if not broken.get("apiVersion") or not broken.get("kind") or not validate._plain_json(broken):
            continue
        version = rng.choice(versions)
        try:
            fast = schema_cache.fast_validator(version, broken["apiVersion"], broken["kind"])
        except (kv.SchemaNotFoundError, TypeError, AttributeError):
            continue  # no schema to compare on (a replaced apiVersion or kind)
        slow = schema_cache.validator(version, broken["apiVersion"], broken["kind"])
        try:
            passed = fast.is_valid(broken)
        except ValueError:
            passed = False  # validate treats it so
        verdicts[passed, slow.is_valid(broken)] += 1

        assert not passed or slow.is_valid(broken), (version, broken)

    assert verdicts[True, True] > 100 and verdicts[False, False] > 500  # both kinds of case were really tried


@pytest.mark.parametrize(
    "value",
    [
        pytest.param((8080,), id="a tuple, which jsonschema-rs reads as an array"),
        pytest.param(Decimal(8080), id="a Decimal, which jsonschema-rs reads as a number"),
    ],
)
def test_a_value_beyond_json_is_judged_by_jsonschema(value):
    odd = copy.deepcopy(DEPLOYMENT)
    odd["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = value
    version = validate.supported_versions()[0]

    assert not validate._plain_json(odd)
    [problem] = validate.validate_objects([odd], [version])
    assert problem.field == "spec.template.spec.containers[0].ports[0].containerPort"
    assert not schema_cache.validator(version, "apps/v1", "Deployment").is_valid(odd)


def test_valid_objects_are_passed_without_jsonschema(monkeypatch):
    def no_jsonschema(*args, **kwargs):
        raise AssertionError("jsonschema was asked about a valid object")

    monkeypatch.setattr(schema_cache, "validator", no_jsonschema)

    assert validate.validate_objects(render_stack("dev").objects) == []
