"""The wording of config problems: one line each, with the full key path and, for a typo, a did-you-mean.

`validate_model` turns pydantic's errors into those lines; `unknown_keys` finds every key a model does not
define. The rules that produce the other lines live beside the schema (`rules.py`).
"""

from __future__ import annotations

import difflib
import json
import types
import typing
from collections.abc import Collection, Mapping
from typing import Annotated, Any, TypeVar, Union

import pydantic
from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """The stack configuration is invalid; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def validate_model(
    cls: type[M],
    data: Any,
    path: str,
    problems: list[str],
    own: Mapping[str, Any] | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> M | None:
    """`cls.model_validate(data)`, turning errors into problem lines; unknown keys are reported elsewhere.

    When `data` is a model merged over `defaults`, an error in a value that came from `defaults` (not from
    `own`) is reported once, at its `defaults.*` path, not once per model.
    """
    try:
        return cls.model_validate(data)
    except pydantic.ValidationError as error:
        seen: set[str] = set()
        for item in error.errors():
            if item["type"] == "extra_forbidden":
                continue
            loc = [str(part) for part in item["loc"] if not _is_union_tag(part)]
            where = path
            if own is not None and defaults is not None and not _has_path(own, loc) and _has_path(defaults, loc):
                where = "defaults"
            key = ".".join(([where] if where else []) + loc) or "(top level)"
            line = _error_line(key, item)
            # One line per key: a union (env values) reports every branch that failed.
            if key not in seen and line not in problems:
                problems.append(line)
            seen.add(key)
        return None


def _has_path(data: Any, loc: list[str]) -> bool:
    for part in loc:
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


def _error_line(key: str, item: Mapping[str, Any]) -> str:
    if item["type"] == "missing":
        return f"{key}: required key is missing"
    message = item["msg"].removeprefix("Value error, ")
    # Our own value errors already quote the value.
    if item["type"] != "value_error" and "input" in item and not isinstance(item["input"], (dict, list)):
        message += f" (got {shown(item['input'])})"
    return f"{key}: {message}"


def _is_union_tag(part: Any) -> bool:
    return isinstance(part, str) and (part in ("str", "int", "float", "bool", "SecretRef") or "[" in part)


def unknown_keys(cls: type[BaseModel], data: Any, path: str) -> list[str]:
    """Every key in `data` that `cls` does not define, recursively, with a did-you-mean."""
    if not isinstance(data, dict):
        return []
    problems = []
    fields = {(info.alias or name): info for name, info in cls.model_fields.items()}
    for key, value in data.items():
        info = fields.get(key)
        if info is None:
            problems.append(f"{path}.{key}: unknown key{did_you_mean(str(key), list(fields))}")
            continue
        for nested, is_map in _nested_models(info.annotation):
            if is_map and isinstance(value, dict):
                for item_key, item in value.items():
                    if isinstance(item, dict):
                        problems.extend(unknown_keys(nested, item, f"{path}.{key}.{item_key}"))
            elif not is_map and isinstance(value, dict):
                problems.extend(unknown_keys(nested, value, f"{path}.{key}"))
    return problems


def _nested_models(annotation: Any) -> list[tuple[type[BaseModel], bool]]:
    """The config models inside a field's type: (model, True) for `dict[str, Model]`, (model, False) for `Model`."""
    found: list[tuple[type[BaseModel], bool]] = []
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _nested_models(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found.extend(_nested_models(arg))
    elif origin is dict:
        found.extend((model, True) for model, _ in _nested_models(typing.get_args(annotation)[1]))
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found.append((annotation, False))
    return found


def did_you_mean(key: str, candidates: Collection[str], prefix: str = "") -> str:
    """`; did you mean <close match>?`, or the list of known keys when nothing is close."""
    close = difflib.get_close_matches(key, list(candidates), n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in candidates}
        close = [lowered[key.lower()]] if key.lower() in lowered else []
    if close:
        return f"; did you mean {prefix}{close[0]}?"
    return f" (known keys: {', '.join(sorted(candidates))})"


def shown(value: Any) -> str:
    """A value as a problem line quotes it: JSON (strings repr'd), cut at 60 characters."""
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
