"""Helpers for running one component under the offline harness's mocks and reading what it registered."""

from __future__ import annotations

from typing import Any

from tools.stack_run import RegisteredResource
from tools.stack_run import run_component as register

__all__ = ["register", "by_type", "one"]


def by_type(registered: list[RegisteredResource], type_token: str) -> list[RegisteredResource]:
    """The registered resources of one type."""
    return [r for r in registered if r.type == type_token]


def one(registered: list[RegisteredResource], type_token: str, name: str | None = None) -> dict[str, Any]:
    """The inputs of the single resource of `type_token` (and `name`, when given)."""
    found = [r for r in by_type(registered, type_token) if name is None or r.name == name]
    assert len(found) == 1, f"expected one {type_token} {name or ''}, got {[r.name for r in found]}"
    return found[0].inputs
