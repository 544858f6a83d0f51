"""Installing a program's dependencies: the steps of `virtualenv`, run with their output streamed.

`InstallDependencies` (`pulumi install`, and `pulumi new`) streams the output to the CLI; `GetRequiredPackages`
creates a missing virtualenv the same way, its output shown as ephemeral engine messages (upstream's
`EnsureVenv`). A plugin that is a buildable package (`pyproject.toml`) is also installed into its own venv.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from .plugin import buildable_package_name
from .processes import ChildProcesses
from .streams import pump
from .virtualenv import InstallStep, PythonEnvironment

Writer = Callable[[bytes], None]


class InstallError(RuntimeError):
    """A step failed; the message names the command and its exit status."""


def run_steps(children: ChildProcesses, steps: list[InstallStep], out: Writer, err: Writer) -> None:
    """Run `steps` in order, their output to `out`/`err` as it comes; stop at the first failure."""
    for step in steps:
        if step.before:
            out((step.before + "\n").encode())
        process = children.start(
            list(step.argv),
            cwd=step.cwd,
            env=step.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            assert process.stdout is not None and process.stderr is not None
            readers = [pump(process.stdout, out, name="install-out"), pump(process.stderr, err, name="install-err")]
            returncode = process.wait()
            for reader in readers:
                reader.join()
        finally:
            children.forget(process)
        if returncode != 0:
            raise InstallError(f"{step.failure} via '{' '.join(step.argv)}': exit status {returncode}")
        if step.after:
            out((step.after + "\n").encode())


def ensure_virtualenv(
    children: ChildProcesses, environment: PythonEnvironment, cwd: Path, out: Writer, err: Writer
) -> None:
    """Create and fill a configured virtualenv that does not exist yet; leave an existing one alone."""
    if environment.needs_creation():
        run_steps(children, environment.install_steps(cwd), out, err)


def install_dependencies(
    children: ChildProcesses,
    environment: PythonEnvironment,
    program_dir: Path,
    *,
    is_plugin: bool,
    out: Writer,
    err: Writer,
) -> None:
    """Everything `InstallDependencies` does, with upstream's progress lines around it."""
    out(b"Installing dependencies...\n\n")
    if is_plugin and buildable_package_name(program_dir):
        # A plugin that is a package: its venv, then the package itself; requirements.txt follows as for anyone.
        ensure_virtualenv(children, environment, program_dir, out, err)
        run_steps(children, [environment.install_package_step(program_dir)], out, err)
    run_steps(children, environment.install_steps(program_dir), out, err)
    out(b"Finished installing dependencies\n\n")
