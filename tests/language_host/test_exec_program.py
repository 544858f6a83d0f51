"""The exec script: run inside the program's Python, it reports each failure to the user once."""

import runpy
import subprocess
import sys

from tests.language_host.host import write
from toolchain.language_host.exec_program import module_path, user_traceback
from toolchain.language_host.program import EXEC_SCRIPT


def test_a_program_directory_means_its_main_module(tmp_path):
    assert module_path(str(tmp_path)) == str(tmp_path / "__main__")
    assert module_path(str(tmp_path / "__main__.py")) == str(tmp_path / "__main__")
    assert module_path(str(tmp_path / "app.py")) == str(tmp_path / "app")


def test_the_traceback_starts_at_the_users_program(tmp_path):
    write(tmp_path / "helpers.py", "def explode():\n    raise ValueError('boom')\n")
    write(
        tmp_path / "__main__.py",
        f"import sys\nsys.path.insert(0, {str(tmp_path)!r})\nimport helpers\nhelpers.explode()\n",
    )
    try:
        runpy.run_path(str(tmp_path), run_name="__main__")
    except ValueError as error:
        text = user_traceback(error, str(tmp_path))
    lines = text.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert str(tmp_path / "__main__.py") in lines[1]
    assert "helpers.py" in text and "ValueError: boom" in lines[-1]
    assert "runpy" not in text and "test_exec_program" not in text


def exec_script(python: str, *args: str) -> subprocess.CompletedProcess[str]:
    # No --engine: the SDK then logs to stderr instead of sending its messages to an engine.
    return subprocess.run(
        [python, str(EXEC_SCRIPT), "--monitor", "127.0.0.1:1", "--project", "demo", "--stack", "dev",
         "--parallel", "4", "--dry_run", "true", *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_a_directory_without_main_is_one_actionable_error(tmp_path):
    completed = exec_script(sys.executable, "--pwd", str(tmp_path), ".")
    assert completed.returncode == 32
    assert f"unable to find main python program `__main__.py` in `{tmp_path}`" in completed.stdout + completed.stderr
    assert "Traceback" not in completed.stderr


def test_a_python_without_the_sdk_says_to_install_it(tmp_path):
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "bare")], check=True)
    completed = exec_script(str(tmp_path / "bare" / "bin" / "python"), ".")
    assert completed.returncode == 1
    assert "It looks like the Pulumi SDK has not been installed" in completed.stderr
