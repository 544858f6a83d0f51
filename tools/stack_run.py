"""Run the real Pulumi program offline, under the Pulumi SDK's mock engine.

The program (`__main__.py`) runs exactly as `pulumi up` would run it, except that the engine boundary
is mocked: resources are recorded instead of created, and the image build (docker-build) is stood in for by
a digest derived from the build context's contents. Render, diff, promote and the tests all use this one
harness, so they see the same objects a real deployment would create; `run_component` runs a single
component the same way.
"""

# Over 300 lines on purpose: the harness and the mocks it installs share private state (the recording monitor,
# an isolated run's outcome); apart, that state would have to become public for one caller.

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import runpy
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any, TypeVar

import pulumi
import yaml
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime import stack as runtime_stack
from pulumi.runtime.sync_await import _sync_await

from components.config import StackConfig, parse_engine_config
from conventions import project_name

ROOT = Path(__file__).resolve().parent.parent

# Stands in for a `secure:` stack value, which only the Pulumi CLI can decrypt.
SECRET_PLACEHOLDER = "offline-secret-placeholder"
# What `pulumi stack output --json` prints for a secret output.
SECRET_OUTPUT = "[secret]"

_DOCKER_IMAGE = "docker-build:index:Image"

T = TypeVar("T")


class ProgramError(Exception):
    """The program stopped with `pulumi.RunError`: a user error such as bad stack config.

    `registered` holds what the program registered before it stopped (a config error must leave it empty).
    """

    def __init__(self, problems: list[str], registered: list[RegisteredResource] | None = None):
        super().__init__("\n".join(problems))
        self.problems = problems
        self.registered = registered or []


class StackFileError(Exception):
    """A stack file is missing or is not a Pulumi stack file."""


@dataclass(frozen=True)
class RegisteredResource:
    """One resource as the engine received it: camelCase inputs (secrets still wrapped), options, mocked state."""

    type: str
    name: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    parent: str = ""
    ignore_changes: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class StackRun:
    """Everything one offline run of the program produced."""

    stack: str
    resources: list[RegisteredResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, type_token: str) -> list[RegisteredResource]:
        """The registered resources of one Pulumi type, e.g. `kubernetes:apps/v1:Deployment`."""
        return [r for r in self.resources if r.type == type_token]

    def manifests(self) -> list[dict[str, Any]]:
        """The Kubernetes objects the stack would create, in registration order (with auto-generated names)."""
        return [
            _unwrap_secrets(r.outputs)
            for r in self.resources
            if r.type.startswith("kubernetes:") and "kind" in r.outputs and "apiVersion" in r.outputs
        ]


def stack_file(stack: str, project_dir: Path = ROOT) -> Path:
    """The path of `Pulumi.<stack>.yaml`."""
    return project_dir / f"Pulumi.{stack}.yaml"


def load_stack_config(stack: str, project_dir: Path = ROOT) -> dict[str, Any]:
    """The `config:` mapping of `Pulumi.<stack>.yaml`, as written (keys like `ml-platform:models`)."""
    path = stack_file(stack, project_dir)
    if not path.is_file():
        raise StackFileError(
            f"{path.name}: no such stack file (stacks here: {', '.join(available_stacks(project_dir)) or 'none'})"
        )
    try:
        with open(path, encoding="utf-8") as f:
            document = yaml.safe_load(f) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise StackFileError(f"{path.name}:{where}: not valid YAML ({getattr(error, 'problem', error)})") from None
    if not isinstance(document, dict) or not isinstance(document.get("config", {}), dict):
        raise StackFileError(f"{path.name}: expected a mapping with a `config:` mapping")
    return document.get("config") or {}


def available_stacks(project_dir: Path = ROOT) -> list[str]:
    """The stacks that have a `Pulumi.<stack>.yaml` file."""
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))


def run_stack(stack: str, *, config: dict[str, Any] | None = None, project_dir: Path = ROOT) -> StackRun:
    """Run `__main__.py` for `stack` under mocks and return what it registered and exported.

    `config` replaces the stack file's `config:` mapping (tests use it for variations). Raises
    `ProgramError` when the program exits with `pulumi.RunError`, `StackFileError` for a bad stack file.
    """
    project_dir = Path(project_dir).resolve()
    raw = load_stack_config(stack, project_dir) if config is None else config
    values, secret_keys = _engine_config(raw)
    program = str(project_dir / "__main__.py")

    def run_program(monitor: _RecordingMonitor) -> StackRun:
        pulumi.runtime.set_all_config(values, secret_keys)
        # set_mocks registers an empty root stack; replace it with one that collects the program's exports.
        settings.ROOT.set(None)
        _sync_await(runtime_stack.run_in_stack(lambda: _run_main(program)))
        return StackRun(stack=stack, resources=monitor.recorded, outputs=monitor.stack_outputs)

    outcome = _run_isolated(run_program, stack=stack, project_dir=project_dir)
    if isinstance(outcome, _Failed) and isinstance(outcome.error, pulumi.RunError):
        raise ProgramError(str(outcome.error).splitlines() or ["RunError"], outcome.registered) from None
    return _result(outcome)


def _run_main(program: str) -> None:
    """Run the program file as `__main__`, as the language host does."""
    runpy.run_path(program, run_name="__main__")


def run_component(
    build: Callable[[], Any], *, stack: str = "unit", project_dir: Path = ROOT
) -> tuple[list[RegisteredResource], Any]:
    """Run `build()` (code that creates resources, e.g. one component) under the same mocks.

    Returns what it registered and the resolved value of what it returned. An error is re-raised with
    `.registered`, what was registered before it.
    """

    def run_build(monitor: _RecordingMonitor) -> tuple[list[RegisteredResource], Any]:
        box: dict[str, Any] = {}

        @pulumi.runtime.test
        def run():
            return pulumi.Output.from_input(build()).apply(lambda value: box.setdefault("value", value))

        run()
        return monitor.recorded, box.get("value")

    return _result(_run_isolated(run_build, stack=stack, project_dir=Path(project_dir).resolve()))


@dataclass(frozen=True)
class _Failed:
    """What a run raised, with what it registered before it stopped."""

    error: BaseException
    registered: list[RegisteredResource]


def _result(outcome: T | _Failed) -> T:
    """The run's value; or its error, re-raised in the caller's thread carrying `.registered`."""
    if isinstance(outcome, _Failed):
        # Callers read `.registered` off whatever was raised, so the foreign exception is tagged in place.
        outcome.error.registered = outcome.registered  # type: ignore[attr-defined]  # any exception takes attributes
        raise outcome.error
    return outcome


def _run_isolated(body: Callable[[_RecordingMonitor], T], *, stack: str, project_dir: Path) -> T | _Failed:
    """Run `body(monitor)` under fresh mocks in a new thread, from the project directory, as `pulumi up` would.

    Pulumi keeps its settings, config and root stack in context variables: a new thread starts with none of
    them set, so every run is as isolated as a fresh `pulumi up`. An error comes back as `_Failed`, for the
    caller's thread to raise.
    """
    outcome: list[T | _Failed] = []

    def target() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        mocks_impl = _OfflineMocks(project_dir)
        monitor = _RecordingMonitor(mocks_impl)
        cwd, path = os.getcwd(), list(sys.path)
        try:
            mocks.set_mocks(mocks_impl, project=project_name(project_dir), stack=stack, preview=False, monitor=monitor)
            os.chdir(project_dir)
            sys.path.insert(0, str(project_dir))
            outcome.append(body(monitor))
        except BaseException as error:  # re-raised in the caller's thread
            outcome.append(_Failed(error, list(monitor.recorded)))
        finally:
            os.chdir(cwd)
            sys.path[:] = path
            loop.close()

    thread = threading.Thread(target=target, name=f"pulumi-{stack}")
    thread.start()
    thread.join()
    return outcome[0]


def parse_config(config: dict[str, Any], *, stack_file: str, project: str) -> StackConfig:
    """A stack file's `config:` mapping parsed by the program's own parser, encoded as the language host would pass
    it to the program (a `secure:` value stood in for). Raises `components.config.ConfigError`."""
    values, secret_keys = _engine_config(config)
    return parse_engine_config(values, secret_keys, stack_file=stack_file, project=project)


def _engine_config(raw: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """Encode stack config as the language host passes it: strings, structured values as JSON."""
    values: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in raw.items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            values[key] = SECRET_PLACEHOLDER
            secret_keys.append(key)
        elif isinstance(value, str):
            values[key] = value
        else:
            values[key] = json.dumps(value)
    return values, secret_keys


class _OfflineMocks(mocks.Mocks):
    """Answers the engine's questions the way the providers would, without touching anything."""

    def __init__(self, project_dir: Path):
        self.project_dir = project_dir

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = dict(args.inputs)
        if args.typ == _DOCKER_IMAGE:
            state.update(self._image_outputs(args.inputs))
        elif args.typ.startswith("kubernetes:") and isinstance(state.get("metadata"), dict):
            metadata = state["metadata"]
            if not metadata.get("name"):
                # The provider auto-names an object without a name: the resource name plus a random suffix.
                # A stable suffix here keeps renders reproducible.
                suffix = hashlib.sha256(args.name.encode()).hexdigest()[:8]
                state["metadata"] = {**metadata, "name": f"{args.name}-{suffix}"}
        return f"{args.name}-id", state

    def call(self, args: mocks.MockCallArgs) -> tuple[dict[str, Any], list]:
        return {}, []

    def _image_outputs(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """docker-build's outputs: `digest` only when pushed, `ref` as `<first tag>@<digest>` (else the tag)."""
        inputs = _unwrap_secrets(inputs)
        context = (inputs.get("context") or {}).get("location", ".")
        context_hash = build_context_digest(self.project_dir / context, inputs)
        tags = inputs.get("tags") or []
        digest = f"sha256:{context_hash}" if inputs.get("push") else ""
        ref = f"{tags[0]}@{digest}" if tags and digest else (tags[0] if tags else "")
        return {"digest": digest, "ref": ref, "contextHash": context_hash}


class _RecordingMonitor(mocks.MockMonitor):
    """The SDK's MockMonitor, also keeping registration order and the stack's outputs."""

    def __init__(self, mocks_impl: mocks.Mocks):
        super().__init__(mocks_impl)
        self.recorded: list[RegisteredResource] = []
        self.stack_outputs: dict[str, Any] = {}

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.recorded.append(
                RegisteredResource(
                    request.type,
                    request.name,
                    whole_numbers(rpc.deserialize_properties(request.object)),
                    self.resources[response.urn].state,
                    parent=request.parent,
                    ignore_changes=tuple(request.ignoreChanges),
                    depends_on=tuple(request.dependencies),
                )
            )
        return response

    def RegisterResourceOutputs(self, request):
        if request.urn.split("::")[2] == "pulumi:pulumi:Stack":
            self.stack_outputs = _mask_secrets(rpc.deserialize_properties(request.outputs))
        return super().RegisterResourceOutputs(request)


def build_context_digest(context: Path, image: dict[str, Any]) -> str:
    """A sha256 over what a build would read: the context's files (minus .dockerignore), and the dockerfile, platforms,
    target and build args of `image` (a docker-build Image's camelCase inputs)."""
    context = context.resolve()
    if not context.is_dir():
        raise ProgramError([f"build.context: {context} is not a directory"])
    ignored = _dockerignore_patterns(context)
    sha = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        relative = path.relative_to(context).as_posix()
        if any(fnmatch(relative, pattern) or relative.startswith(pattern.rstrip("/") + "/") for pattern in ignored):
            continue
        sha.update(relative.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    settings = {
        "dockerfile": (image.get("dockerfile") or {}).get("location", ""),
        "platforms": ",".join(image.get("platforms") or []),
        "target": image.get("target", ""),
    }
    for key, value in settings.items():
        sha.update(f"{key}={value}\0".encode())
    sha.update(json.dumps(image.get("buildArgs") or {}, sort_keys=True).encode())
    return sha.hexdigest()


def _dockerignore_patterns(context: Path) -> list[str]:
    ignore_file = context / ".dockerignore"
    if not ignore_file.is_file():
        return []
    patterns = []
    for line in ignore_file.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and not line.startswith("!"):
            patterns.append(line.lstrip("/").replace("**/", "*"))
    return patterns


def whole_numbers(value: Any) -> Any:
    """`value` with every integral float as an int.

    The engine carries numbers as protobuf doubles, so `8080` arrives as `8080.0`; the Kubernetes API rejects
    `8080.0` for an int32 field, and `pulumi stack output --json` prints `8080`.
    """
    return _walk(value, on_secret=lambda secret: {**secret, "value": whole_numbers(secret["value"])})


def _unwrap_secrets(value: Any) -> Any:
    return _walk(value, on_secret=lambda secret: _unwrap_secrets(secret["value"]))


def _mask_secrets(value: Any) -> Any:
    return _walk(value, on_secret=lambda secret: SECRET_OUTPUT)


def _walk(value: Any, on_secret: Callable[[dict], Any]) -> Any:
    """Rebuild `value` with integral floats as ints, handing each wrapped secret to `on_secret`."""
    if isinstance(value, dict):
        if rpc.is_rpc_secret(value):
            return on_secret(value)
        return {key: _walk(item, on_secret) for key, item in value.items()}
    if isinstance(value, list):
        return [_walk(item, on_secret) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
