"""What the host tells `pulumi about` and `pulumi new`: the program's Python, and the runtime options to ask for.

`About` reports the interpreter's path and version and, as metadata, the toolchain, its version and the type
checker, with upstream's names (`Pip`, `Mypy`, ...). `RuntimeOptionsPrompts` asks `pulumi new` for the options
a project lacks; this host offers only pip, the toolchain it implements, and a virtualenv for it (default `venv`).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pulumi.runtime.proto import language_pb2

from .virtualenv import PythonEnvironment

_DESCRIBE = "import json, platform, sys; print(json.dumps([sys.executable, platform.python_version()]))"


@dataclass(frozen=True)
class PythonDescription:
    """The facts `About` reports."""

    executable: str
    version: str
    pip_version: str  # "0.0.0" when pip is missing, as upstream's zero semver prints


def describe(environment: PythonEnvironment) -> PythonDescription:
    """Ask the environment's interpreter for its path and version, and its pip for its version."""
    described = subprocess.run(
        environment.command("-c", _DESCRIBE), env=environment.environ(), capture_output=True, text=True, check=True
    )
    executable, version = json.loads(described.stdout)
    pip = subprocess.run(
        environment.command("-m", "pip", "--version"),
        env=environment.environ(),
        capture_output=True,
        text=True,
        check=False,
    )
    # `pip 25.3 from /path/to/pip (python 3.11)`
    match = re.match(r"pip\s+(\d+(?:\.\d+)*)", pip.stdout.strip())
    return PythonDescription(executable, version, semver(match.group(1)) if match else "0.0.0")


def semver(version: str) -> str:
    """A dotted version padded to major.minor.patch, as Go's semver.ParseTolerant prints it."""
    parts = version.split(".")
    return ".".join([*parts, "0", "0"][:3]) if len(parts) < 3 else version


def runtime_option_prompts(options: Mapping[str, Any]) -> list[Any]:
    """The `RuntimeOptionPrompt`s for the options a new project has not set."""
    string = language_pb2.RuntimeOptionPrompt.STRING
    value = language_pb2.RuntimeOptionPrompt.RuntimeOptionValue
    if "toolchain" not in options:
        pip = value(promptType=string, stringValue="pip", displayName="pip")
        return [
            language_pb2.RuntimeOptionPrompt(
                key="toolchain",
                description="The toolchain to use for installing dependencies and running the program",
                promptType=string,
                choices=[pip],
                default=pip,
            )
        ]
    if options["toolchain"] == "pip" and "virtualenv" not in options:
        venv = value(promptType=string, stringValue="venv")
        return [
            language_pb2.RuntimeOptionPrompt(
                key="virtualenv", description="The virtualenv to use", promptType=string, choices=[venv], default=venv
            )
        ]
    return []
