"""Run a piece of Pulumi code (a component) under the SDK's mocks and collect what it registered.

Each call runs in a fresh thread: Pulumi keeps its settings in context variables, so every call starts clean.
Only the engine boundary is mocked; the components' own code runs unchanged.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any, Callable

import pulumi
from pulumi.runtime import mocks, rpc


@dataclass(frozen=True)
class Registered:
    """A resource as the provider would receive it: type token, logical name, camelCase inputs, parent URN."""

    type: str
    name: str
    inputs: dict[str, Any]
    parent: str = ""
    ignore_changes: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()


class _Recorder(mocks.Mocks):
    def new_resource(self, args: mocks.MockResourceArgs):
        state = dict(args.inputs)
        if args.typ == "docker:index/image:Image":
            state["repoDigest"] = args.inputs["imageName"].rsplit(":", 1)[0] + "@sha256:" + "ab" * 32
        return f"{args.name}-id", state

    def call(self, args: mocks.MockCallArgs):
        return {}, []


class _RecordingMonitor(mocks.MockMonitor):
    """Keeps every registration with the options the engine sees (parent, ignoreChanges, dependencies)."""

    def __init__(self, recorder: _Recorder) -> None:
        super().__init__(recorder)
        self.registered: list[Registered] = []

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            inputs = _ints(rpc.deserialize_properties(request.object))
            self.registered.append(
                Registered(
                    request.type,
                    request.name,
                    inputs,
                    parent=request.parent,
                    ignore_changes=tuple(request.ignoreChanges),
                    depends_on=tuple(request.dependencies),
                )
            )
        return response


def register(build: Callable[[], Any]) -> tuple[list[Registered], Any]:
    """Run `build()` under mocks; return what it registered and the resolved value of what it returned."""
    result: dict[str, Any] = {}

    def target() -> None:
        asyncio.set_event_loop(asyncio.new_event_loop())
        monitor = _RecordingMonitor(_Recorder())
        pulumi.runtime.set_mocks(monitor.mocks, project="ml-platform", stack="unit", preview=False, monitor=monitor)
        box: dict[str, Any] = {}

        @pulumi.runtime.test
        def run():
            return pulumi.Output.from_input(build()).apply(lambda value: box.setdefault("value", value))

        try:
            run()
            result["value"] = (monitor.registered, box.get("value"))
        except BaseException as error:  # re-raised in the test's thread
            result["error"] = error
            result["registered"] = monitor.registered

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        result["error"].registered = result["registered"]  # what was registered before the error
        raise result["error"]
    return result["value"]


def by_type(registered: list[Registered], type_token: str) -> list[Registered]:
    """The registered resources of one type."""
    return [r for r in registered if r.type == type_token]


def one(registered: list[Registered], type_token: str, name: str | None = None) -> dict[str, Any]:
    """The inputs of the single resource of `type_token` (and `name`, when given)."""
    found = [r for r in by_type(registered, type_token) if name is None or r.name == name]
    assert len(found) == 1, f"expected one {type_token} {name or ''}, got {[r.name for r in found]}"
    return found[0].inputs


def _ints(value: Any) -> Any:
    # Engine numbers travel as doubles; the provider reads integral ones back as integers.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value
