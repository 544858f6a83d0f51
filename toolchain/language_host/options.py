"""The `runtime.options` of Pulumi.yaml (or PulumiPolicy.yaml / PulumiPlugin.yaml), typed once.

Every request carries a `ProgramInfo`: the root directory (where Pulumi.yaml is), the program directory, the
entry point, and the runtime options as a protobuf Struct. Upstream parses them in `parseOptions`
(sdk/python/cmd/pulumi-language-python/main.go); the rules here are the same:

- `virtualenv` is a string, relative to the root directory unless absolute;
- `toolchain` is `pip`, `poetry` or `uv`; absent means auto (a uv.lock or poetry.lock picks those, else pip);
- `typechecker` is `mypy` or `pyright`;
- a plugin (not a policy pack) without a virtualenv gets `venv`, since plugins never run on the ambient Python.

This host implements the pip toolchain; `toolchain_error` explains the others instead of half-supporting them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToDict


class OptionsError(ValueError):
    """A runtime option has the wrong type or an unsupported value."""


class Toolchain(Enum):
    """The package manager a program's dependencies are managed with (`toolchain:`)."""

    AUTO = "auto"
    PIP = "pip"
    POETRY = "poetry"
    UV = "uv"

    @property
    def display_name(self) -> str:
        """The name upstream reports in `About` (`toolchain.Name`): Auto, Pip, Poetry, Uv."""
        return self.value.capitalize()


class Typechecker(Enum):
    """The type checker run before the program (`typechecker:`)."""

    NONE = "none"
    MYPY = "mypy"
    PYRIGHT = "pyright"

    @property
    def display_name(self) -> str:
        """The name upstream reports in `About` (`toolchain.TypeCheckerName`): None, Mypy, Pyright."""
        return self.value.capitalize()


@dataclass(frozen=True)
class PythonOptions:
    """Where a program lives and how its Python is set up."""

    root: Path
    program_dir: Path
    entry_point: str = "."
    virtualenv: str = ""
    toolchain: Toolchain = Toolchain.AUTO
    typechecker: Typechecker = Typechecker.NONE

    @property
    def virtualenv_path(self) -> Path | None:
        """The virtualenv's absolute path, or None to use the ambient Python."""
        if not self.virtualenv:
            return None
        path = Path(self.virtualenv)
        return path if path.is_absolute() else self.root / path

    def resolved_toolchain(self) -> Toolchain:
        """The toolchain `auto` stands for: the nearest uv.lock or poetry.lock above the program decides."""
        if self.toolchain is not Toolchain.AUTO:
            return self.toolchain
        for directory in (self.program_dir, *self.program_dir.parents):
            if (directory / "uv.lock").is_file():
                return Toolchain.UV
            if (directory / "poetry.lock").is_file():
                return Toolchain.POETRY
        return Toolchain.PIP

    def toolchain_error(self) -> str | None:
        """Why this host cannot serve the options, or None when it can (pip, explicit or detected)."""
        toolchain = self.resolved_toolchain()
        if toolchain is Toolchain.PIP:
            return None
        how = "set in Pulumi.yaml" if self.toolchain is not Toolchain.AUTO else "detected from its lock file"
        return (
            f"the Python toolchain {toolchain.value!r} ({how}) is not supported by this project's language host "
            "(toolchain/language_host), which implements pip; set `toolchain: pip` and a `virtualenv` in the "
            "runtime options"
        )


def options_from_mapping(
    root: str,
    program_dir: str,
    options: Mapping[str, Any],
    *,
    entry_point: str = ".",
    is_plugin: bool = False,
    defaults: Mapping[str, str] | None = None,
) -> PythonOptions:
    """Parse runtime options; `defaults` (legacy command-line flags) fill keys the options lack."""
    merged: dict[str, Any] = dict(defaults or {})
    merged.pop("root", None)
    merged.update(options)

    virtualenv = merged.get("virtualenv", "")
    if not isinstance(virtualenv, str):
        raise OptionsError("virtualenv option must be a string")

    typechecker = Typechecker.NONE
    if "typechecker" in merged:
        value = merged["typechecker"]
        if not isinstance(value, str):
            raise OptionsError("typechecker option must be a string")
        if value not in ("mypy", "pyright"):
            raise OptionsError(f"unsupported typechecker option: {value}")
        typechecker = Typechecker(value)

    toolchain = Toolchain.AUTO
    if "toolchain" in merged:
        value = merged["toolchain"]
        if not isinstance(value, str):
            raise OptionsError("toolchain option must be a string")
        if value not in ("pip", "poetry", "uv"):
            raise OptionsError(f"unsupported toolchain option: {value}")
        toolchain = Toolchain(value)

    # Plugins never run on the ambient Python (upstream: "We don't support running plugins using the global or
    # ambient Python environment"); programs may, for backwards compatibility.
    if is_plugin and toolchain in (Toolchain.PIP, Toolchain.AUTO) and not virtualenv:
        virtualenv = "venv"

    root_dir = root or (defaults or {}).get("root", "") or program_dir or os.getcwd()
    return PythonOptions(
        root=Path(root_dir),
        program_dir=Path(program_dir or root_dir),
        entry_point=entry_point or ".",
        virtualenv=virtualenv,
        toolchain=toolchain,
        typechecker=typechecker,
    )


def options_from_program_info(
    info: Any, *, is_plugin: bool = False, defaults: Mapping[str, str] | None = None
) -> PythonOptions:
    """Parse a `pulumirpc.ProgramInfo` message."""
    options = MessageToDict(info.options) if info.HasField("options") else {}
    return options_from_mapping(
        info.root_directory,
        info.program_directory,
        options,
        entry_point=info.entry_point,
        is_plugin=is_plugin,
        defaults=defaults,
    )
