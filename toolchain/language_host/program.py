"""`Run`: the command line and environment of one program run, and what its exit code means to the engine.

Upstream's host (`Run`, `constructArguments`, `constructConfig` in sdk/python/cmd/pulumi-language-python/main.go)
starts `python <exec script> FLAGS ENTRY_POINT ARGS...` with the program's interpreter. The stack config travels
in the environment, not on the command line: PULUMI_CONFIG holds the config map as JSON (only when there is
config), PULUMI_CONFIG_SECRET_KEYS the list of secret keys (always, "[]" when none). The program's stdout and
stderr are the host's own, which the engine relays to the user.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .options import PythonOptions, Typechecker
from .packages import installed_packages
from .virtualenv import PythonEnvironment

# exec_program.py's exit code for "the user was already shown an actionable message".
EXIT_AFTER_USER_ACTIONABLE_MESSAGE = 32

EXEC_SCRIPT = Path(__file__).with_name("exec_program.py")


class ProgramError(RuntimeError):
    """The program cannot be started (its type check failed, or its checker is missing)."""


def exec_flags(request: Any, engine_address: str, tracing: str) -> list[str]:
    """The exec script's flags for a `RunRequest`: empty values are left out, as upstream's `maybeAppendArg`."""
    pairs = [
        ("monitor", request.monitor_address),
        ("engine", engine_address),
        ("project", request.project),
        ("root_directory", request.info.root_directory),
        ("stack", request.stack),
        ("pwd", request.pwd),
        ("dry_run", "true" if request.dryRun else "false"),
        ("parallel", str(request.parallel)),
        ("tracing", tracing),
        ("organization", request.organization),
    ]
    flags: list[str] = []
    for name, value in pairs:
        if value:
            flags += [f"--{name}", value]
    return flags


def entry_point(request: Any) -> str:
    """The program to run: the ProgramInfo's entry point ("." for the program directory), else the legacy field."""
    return request.info.entry_point or request.program or "."


def exec_arguments(request: Any, engine_address: str, tracing: str) -> list[str]:
    """Everything after the exec script: flags, the entry point, then the program's own arguments."""
    return [*exec_flags(request, engine_address, tracing), entry_point(request), *request.args]


def config_environment(config: Mapping[str, str], secret_keys: list[str]) -> dict[str, str]:
    """PULUMI_CONFIG (when there is config) and PULUMI_CONFIG_SECRET_KEYS, JSON-encoded as Go encodes them."""
    env = {"PULUMI_CONFIG_SECRET_KEYS": json.dumps(list(secret_keys), separators=(",", ":"))}
    if config:
        # encoding/json writes a map with its keys sorted and without spaces.
        env["PULUMI_CONFIG"] = json.dumps(dict(sorted(config.items())), separators=(",", ":"))
    return env


@dataclass(frozen=True)
class ProgramCommand:
    """One program run: what to execute, with which environment, from where."""

    argv: list[str]
    env: dict[str, str]
    cwd: str | None


def program_command(
    request: Any,
    environment: PythonEnvironment,
    *,
    engine_address: str,
    tracing: str,
    executor: str = "",
    base_env: Mapping[str, str] | None = None,
) -> ProgramCommand:
    """The command `Run` starts for `request`."""
    script = executor or str(EXEC_SCRIPT)
    env = environment.environ(base_env)
    env.update(config_environment(dict(request.config), list(request.configSecretKeys)))
    # The exec script changes into --pwd itself; starting there too keeps relative paths in errors sensible.
    cwd = request.pwd or request.info.program_directory or None
    return ProgramCommand(
        argv=environment.command(script, *exec_arguments(request, engine_address, tracing)), env=env, cwd=cwd
    )


def typecheck_command(options: PythonOptions, environment: PythonEnvironment) -> list[str] | None:
    """`python -m mypy|pyright PROGRAM_DIR` when a typechecker is configured (mypy skips the virtualenv)."""
    if options.typechecker is Typechecker.NONE:
        return None
    argv = environment.command("-m", options.typechecker.value)
    if options.typechecker is Typechecker.MYPY and environment.venv is not None:
        argv += ["--exclude", str(_relative(environment.venv, options.program_dir))]
    return [*argv, str(options.program_dir)]


def typecheck(options: PythonOptions, environment: PythonEnvironment) -> None:
    """Run the configured typechecker over the program directory, its output shown; raise ProgramError on failure."""
    argv = typecheck_command(options, environment)
    if argv is None:
        return
    checker = options.typechecker.value
    if checker not in {package.name for package in installed_packages(environment)}:
        pip = f"{environment.venv}/bin/pip" if environment.venv else "pip"
        raise ProgramError(
            f"The typechecker option is set to {checker}, but {checker} is not installed. Please add an entry for "
            f"{checker} to requirements.txt and run `{pip} install -r requirements.txt`"
        )
    completed = subprocess.run(
        argv,
        cwd=options.program_dir,
        env=environment.environ(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        check=False,
    )
    output = completed.stdout.decode("utf-8", errors="replace")
    sys.stdout.write(output)
    sys.stdout.flush()
    if completed.returncode != 0:
        detail = f"\n{output}" if output else ""
        raise ProgramError(f"{checker} failed: exit status {completed.returncode}{detail}")


def _relative(path: Path, start: Path) -> Path:
    try:
        return path.relative_to(start)
    except ValueError:
        return path


def run_outcome(returncode: int) -> tuple[str, bool]:
    """The (error, bail) of a RunResponse for the exec script's exit code."""
    if returncode == 0:
        return "", False
    if returncode == EXIT_AFTER_USER_ACTIONABLE_MESSAGE:
        # The program already told the user what went wrong; the engine should not add an error of its own.
        return "", True
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"program exited unexpectedly: killed by {name}", False
    return f"program exited with non-zero exit code: {returncode}", False
