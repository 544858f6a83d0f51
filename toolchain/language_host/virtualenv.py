"""The Python a program runs with, and pip on top of it: upstream's pip toolchain (sdk/python/toolchain/pip.go).

With `virtualenv:` set, everything runs with `<venv>/bin/python` in an "activated" environment (the venv's bin
first on PATH, VIRTUAL_ENV set, PYTHONHOME unset); without it, with the ambient `python3` (or `$PULUMI_PYTHON_CMD`).
Installing dependencies is the same three steps as upstream: create the venv, upgrade pip/setuptools/wheel,
`pip install -r requirements.txt`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .options import PythonOptions


class VirtualenvError(RuntimeError):
    """The configured virtualenv is missing or is not one; the message says how to create it."""


def ambient_python() -> str:
    """The Python found the way upstream finds it: `$PULUMI_PYTHON_CMD`, else python3, else python, on PATH."""
    candidates = [os.environ["PULUMI_PYTHON_CMD"]] if os.environ.get("PULUMI_PYTHON_CMD") else ["python3", "python"]
    for candidate in candidates:
        found = shutil.which(candidate)
        if found:
            return found
    raise VirtualenvError(
        f"failed to locate any of {candidates} on your PATH. Have you installed Python 3.10 or greater?"
    )


def is_virtualenv(path: Path) -> bool:
    """Whether `path` holds a virtualenv: it has a bin/python file (upstream's `IsVirtualEnv`)."""
    return (path / "bin" / "python").is_file()


def activated_environment(base: Mapping[str, str], venv: Path | None) -> dict[str, str]:
    """`base` as a shell that sourced the venv's activate script would see it (unchanged without a venv)."""
    env = dict(base)
    if venv is None:
        return env
    env.pop("PYTHONHOME", None)
    bin_dir = str(venv / "bin")
    env["PATH"] = bin_dir + os.pathsep + env["PATH"] if env.get("PATH") else bin_dir
    env["VIRTUAL_ENV"] = str(venv)
    return env


@dataclass(frozen=True)
class InstallStep:
    """One command of a dependency install, with the messages shown around it."""

    before: str
    argv: tuple[str, ...]
    after: str
    failure: str
    cwd: Path
    env: dict[str, str]


@dataclass(frozen=True)
class PythonEnvironment:
    """The program's Python: a virtualenv (absolute path) or the ambient interpreter."""

    venv: Path | None
    # The `virtualenv:` option as written in Pulumi.yaml, for messages.
    option: str = ""

    @classmethod
    def for_options(cls, options: PythonOptions) -> PythonEnvironment:
        """The environment the runtime options describe."""
        return cls(venv=options.virtualenv_path, option=options.virtualenv)

    def python(self) -> str:
        """The interpreter to run."""
        return str(self.venv / "bin" / "python") if self.venv is not None else ambient_python()

    def command(self, *args: str) -> list[str]:
        """`python ARGS...` with this environment's interpreter."""
        return [self.python(), *args]

    def environ(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The process environment to run this interpreter with."""
        return activated_environment(os.environ if base is None else base, self.venv)

    def validate(self) -> None:
        """Raise VirtualenvError unless the configured virtualenv exists (upstream's `ValidateVenv`)."""
        if self.venv is None or is_virtualenv(self.venv):
            return
        state = "doesn't exist" if not self.venv.exists() else "doesn't appear to be a virtual environment"
        python = self.venv / "bin" / "python"
        raise VirtualenvError(
            f'The \'virtualenv\' option in Pulumi.yaml is set to "{self.option}", but "{self.venv}" {state}; '
            "run the following commands to create the virtual environment and install dependencies into it:\n\n"
            f"    1. python3 -m venv {self.venv}\n"
            f"    2. {python} -m pip install --upgrade pip setuptools wheel\n"
            f"    3. {python} -m pip install -r requirements.txt\n\n\n"
            "For more information see: https://www.pulumi.com/docs/intro/languages/python/#virtual-environments"
        )

    def needs_creation(self) -> bool:
        """Whether a configured virtualenv is absent or an empty directory (upstream's `EnsureVenv` test)."""
        if self.venv is None or is_virtualenv(self.venv):
            return False
        if self.venv.exists() and not self.venv.is_dir():
            raise VirtualenvError(
                f"the 'virtualenv' option in Pulumi.yaml is set to {str(self.venv)!r} but it is not a directory"
            )
        return not self.venv.exists() or not any(self.venv.iterdir())

    def install_steps(self, cwd: Path) -> list[InstallStep]:
        """The commands that create the virtualenv (when configured) and install `cwd`/requirements.txt."""
        steps: list[InstallStep] = []
        if self.venv is not None:
            steps.append(
                InstallStep(
                    before="Creating virtual environment...",
                    argv=(ambient_python(), "-m", "venv", str(self.venv)),
                    after="Finished creating virtual environment",
                    failure=f"creating virtual environment at '{self.venv}'",
                    cwd=cwd,
                    env=dict(os.environ),
                )
            )
        pip = (self.python(), "-m", "pip", "install")
        env = self.environ()
        steps.append(
            InstallStep(
                before="Updating pip, setuptools, and wheel in virtual environment...",
                argv=(*pip, "--upgrade", "pip", "setuptools", "wheel"),
                after="Finished updating",
                failure="updating pip, setuptools, and wheel",
                cwd=cwd,
                env=env,
            )
        )
        if (cwd / "requirements.txt").is_file():
            steps.append(
                InstallStep(
                    before="Installing dependencies in virtual environment...",
                    argv=(*pip, "-r", "requirements.txt"),
                    after="Finished installing dependencies",
                    failure="installing dependencies",
                    cwd=cwd,
                    env=env,
                )
            )
        return steps

    def install_package_step(self, package_dir: Path) -> InstallStep:
        """`pip install <dir>`: a plugin that is a buildable package is installed into its own venv."""
        return InstallStep(
            before="",
            argv=(self.python(), "-m", "pip", "install", str(package_dir)),
            after="",
            failure="installing package",
            cwd=package_dir,
            env=self.environ(),
        )
