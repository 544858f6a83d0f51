"""`RunPlugin`: how a Python plugin or CrossGuard policy pack is started.

The engine runs a plugin written in Python (a directory with PulumiPlugin.yaml or PulumiPolicy.yaml) through the
language host's `RunPlugin` (sdk/go/common/resource/plugin/plugin.go, `ExecPlugin`). Upstream's host
(`RunPlugin` in sdk/python/cmd/pulumi-language-python/main.go) picks the command:

- a policy pack (kind `analyzer`): `python -u -m pulumi.policy ARGS... PACK_DIR`, from the pack directory, with
  the stack's project, stack, organization, dry-run flag and config in PULUMI_* variables (see policy_proxy);
- a plugin directory with `__main__.py`: `python PLUGIN_DIR ARGS...`, from the engine's working directory;
- a buildable package (pyproject.toml with a name and a build backend) and no `__main__.py`:
  `python -m pulumi.run.plugin NAME ARGS...`, when its pulumi SDK has that module.

ARGS are the engine's: `[--logtostderr] [-v=N] [--tracing URL] ENGINE_ADDRESS`. Each runs with the plugin's own
virtualenv (`virtualenv:` relative to the plugin directory; plugins other than policy packs default to `venv`).
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pulumi.runtime.proto import language_pb2

from .options import PythonOptions
from .policy_proxy import PolicyPackNotStarted, PolicyProxy, policy_environment
from .processes import ChildProcesses
from .streams import ResponseQueue, pump
from .virtualenv import PythonEnvironment

try:
    import tomllib
except ImportError:  # Python < 3.11: buildable plugin packages are not recognised
    tomllib = None  # type: ignore[assignment]

ANALYZER_KIND = "analyzer"

_log = logging.getLogger(__name__)


class PluginError(RuntimeError):
    """The plugin directory cannot be run."""


@dataclass(frozen=True)
class PluginCommand:
    """What RunPlugin starts."""

    argv: list[str]
    cwd: str
    env: dict[str, str]
    is_policy_pack: bool


def buildable_package_name(directory: Path) -> str | None:
    """The project name of a buildable pyproject.toml in `directory` (upstream's `IsBuildablePackage`), or None."""
    pyproject = directory / "pyproject.toml"
    if not pyproject.is_file() or tomllib is None:
        return None
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise PluginError(f"parsing pyproject.toml: {error}") from None
    name = (data.get("project") or {}).get("name")
    backend = (data.get("build-system") or {}).get("build-backend")
    return name if name and backend else None


def has_plugin_runner(environment: PythonEnvironment) -> bool:
    """Whether the plugin's pulumi SDK has `pulumi.run.plugin` (older SDKs do not)."""
    completed = subprocess.run(
        environment.command("-c", "import pulumi.run.plugin"),
        env=environment.environ(),
        capture_output=True,
        text=True,
        check=False,
    )
    return "ModuleNotFoundError" not in completed.stdout + completed.stderr


def plugin_command(
    request: Any,
    options: PythonOptions,
    environment: PythonEnvironment,
    *,
    policy_env: Mapping[str, str] | None = None,
    base_env: Mapping[str, str] | None = None,
) -> PluginCommand:
    """The command for a `RunPluginRequest`; `policy_env` is the stack's PULUMI_* for a policy pack."""
    is_policy_pack = request.kind == ANALYZER_KIND
    program_dir = str(options.program_dir)
    args = list(request.args)

    has_main = (options.root / "__main__.py").is_file()
    if not has_main and not is_policy_pack and has_plugin_runner(environment):
        name = buildable_package_name(options.root)
        if name is None:
            raise PluginError("plugin is not runnable, it provides neither __main__.py nor a buildable pyproject.toml")
        argv = environment.command("-m", "pulumi.run.plugin", name, *args)
    elif is_policy_pack:
        # -u: the engine reads the pack's port from its first line of output, which must not sit in a buffer.
        argv = environment.command("-u", "-m", "pulumi.policy", *args, program_dir)
    else:
        argv = environment.command(program_dir, *args)

    # The engine's environment (it sends its own, with what the plugin needs added), then the stack's facts for a
    # policy pack, then the virtualenv's activation, so the venv's bin is first on PATH.
    env = dict(base_env if base_env is not None else {})
    env.update(_environ_list(request.env))
    env.update(policy_env or {})
    env = environment.environ(env)

    # Policy packs have always run from their own directory (upstream keeps this for compatibility).
    cwd = program_dir if is_policy_pack else (request.pwd or program_dir)
    return PluginCommand(argv=argv, cwd=cwd, env=env, is_policy_pack=is_policy_pack)


def _environ_list(entries: Any) -> dict[str, str]:
    """`KEY=VALUE` strings (a RunPluginRequest's env) as a mapping; later entries win, as in exec.Cmd.Env."""
    env: dict[str, str] = {}
    for entry in entries:
        key, separator, value = entry.partition("=")
        if separator:
            env[key] = value
    return env


def run_plugin(children: ChildProcesses, request: Any, options: PythonOptions, context: Any) -> Iterator[Any]:
    """`RunPlugin`'s stream: the plugin's stdout and stderr as they come, then its exit code when not 0.

    For a policy pack the first line is the proxy's port, and the pack starts once the engine has sent the stack
    configuration to the proxy. `context` is the RPC's: when the engine cancels it (closing the plugin), the
    plugin is stopped and the stream ends.
    """
    environment = PythonEnvironment.for_options(options)
    is_policy_pack = request.kind == ANALYZER_KIND
    out: ResponseQueue[Any] = ResponseQueue(
        stdout=lambda data: language_pb2.RunPluginResponse(stdout=data),
        stderr=lambda data: language_pb2.RunPluginResponse(stderr=data),
    )
    started: list[subprocess.Popen[bytes]] = []
    proxy = PolicyProxy() if is_policy_pack else None

    def stop() -> None:
        # The RPC is over (the engine closed the plugin, or the plugin exited): nothing may outlive it.
        out.cancel()
        for process in started:
            children.stop(process)
        if proxy is not None:
            proxy.stop()

    context.add_callback(stop)
    try:
        policy_env: dict[str, str] = {}
        if proxy is not None:
            yield language_pb2.RunPluginResponse(stdout=f"{proxy.port}\n".encode())
            configuration = proxy.await_configuration(cancelled=lambda: not context.is_active())
            policy_env = policy_environment(configuration)

        command = plugin_command(request, options, environment, policy_env=policy_env, base_env=os.environ)
        _log.debug("running plugin %s in %s", command.argv, command.cwd)
        process = children.start(
            command.argv,
            cwd=command.cwd,
            env=command.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        started.append(process)
        if not context.is_active():
            # Cancelled while the plugin was starting: `stop` ran before it was in `started`.
            children.stop(process)
        assert process.stdout is not None and process.stderr is not None
        readers = [
            pump(process.stdout, out.write_stdout, first_line=proxy.attach if proxy else None, name="plugin-out"),
            pump(process.stderr, out.write_stderr, name="plugin-err"),
        ]

        def wait() -> None:
            returncode = process.wait()
            for reader in readers:
                reader.join()
            children.forget(process)
            if proxy is not None:
                proxy.abort(PolicyPackNotStarted(f"the policy pack exited with code {returncode}"))
            # A clean exit is the end of the stream (upstream closes it); only a failure is sent as an exit code.
            if returncode != 0:
                out.put(language_pb2.RunPluginResponse(exitcode=returncode))
            out.finish()

        threading.Thread(target=wait, name="plugin-wait", daemon=True).start()
        yield from out
    except BaseException:
        stop()
        raise
