"""Installing dependencies: upstream's three steps, their output streamed, the first failure named."""

import sys
from pathlib import Path

import pytest

from toolchain.language_host.install import InstallError, run_steps
from toolchain.language_host.processes import ChildProcesses
from toolchain.language_host.virtualenv import InstallStep, PythonEnvironment


def test_a_virtualenv_is_created_then_pip_updated_then_requirements_installed(tmp_path):
    (tmp_path / "requirements.txt").write_text("pulumi>=3\n")
    venv = tmp_path / "venv"
    steps = PythonEnvironment(venv=venv, option="venv").install_steps(tmp_path)
    assert [step.argv[1:] for step in steps] == [
        ("-m", "venv", str(venv)),
        ("-m", "pip", "install", "--upgrade", "pip", "setuptools", "wheel"),
        ("-m", "pip", "install", "-r", "requirements.txt"),
    ]
    assert steps[1].argv[0] == str(venv / "bin" / "python")
    assert steps[2].env["VIRTUAL_ENV"] == str(venv)
    assert [step.before for step in steps] == [
        "Creating virtual environment...",
        "Updating pip, setuptools, and wheel in virtual environment...",
        "Installing dependencies in virtual environment...",
    ]


def test_without_requirements_only_the_venv_and_pip_steps_run(tmp_path):
    steps = PythonEnvironment(venv=tmp_path / "venv").install_steps(tmp_path)
    assert len(steps) == 2


def test_a_missing_or_empty_virtualenv_needs_creating_an_existing_one_does_not(tmp_path):
    assert PythonEnvironment(venv=tmp_path / "venv").needs_creation()
    (tmp_path / "venv").mkdir()
    assert PythonEnvironment(venv=tmp_path / "venv").needs_creation()
    (tmp_path / "venv" / "bin").mkdir()
    (tmp_path / "venv" / "bin" / "python").write_text("")
    assert not PythonEnvironment(venv=tmp_path / "venv").needs_creation()
    assert not PythonEnvironment(venv=None).needs_creation()


def step(code: str, tmp_path: Path) -> InstallStep:
    return InstallStep(
        before="before", argv=(sys.executable, "-c", code), after="after", failure="doing it", cwd=tmp_path, env={}
    )


def test_steps_stream_their_output_between_their_messages(tmp_path):
    out: list[bytes] = []
    err: list[bytes] = []
    run_steps(
        ChildProcesses(),
        [step("import sys; print('working'); print('warn', file=sys.stderr)", tmp_path)],
        out.append,
        err.append,
    )
    assert b"".join(out) == b"before\nworking\nafter\n"
    assert b"".join(err) == b"warn\n"


def test_the_first_failing_step_stops_the_install_and_is_named(tmp_path):
    out: list[bytes] = []
    with pytest.raises(InstallError, match=r"doing it via '.* -c raise SystemExit\(4\)': exit status 4"):
        run_steps(
            ChildProcesses(),
            [step("raise SystemExit(4)", tmp_path), step("print('never')", tmp_path)],
            out.append,
            out.append,
        )
    assert b"never" not in b"".join(out)
