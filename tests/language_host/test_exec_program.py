"""The exec script: run inside the program's Python, it reports each failure to the user once."""

import os
import runpy
import signal
import subprocess
import sys
import time

from tests.language_host.host import fake_monitor, write
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


def test_a_program_the_engine_interrupts_leaves_quietly_and_at_once(tmp_path):
    write(tmp_path / "__main__.py", "import time\nprint('started', flush=True)\ntime.sleep(60)\n")
    with fake_monitor() as monitor:
        process = subprocess.Popen(
            [sys.executable, str(EXEC_SCRIPT), "--monitor", monitor, "--project", "demo", "--stack", "dev",
             "--parallel", "4", "--dry_run", "true", "--pwd", str(tmp_path), "."],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        assert process.stdout is not None
        assert process.stdout.readline() == b"started\n"
        # The host interrupts the program, and the engine the host's whole process group: two SIGINTs.
        process.send_signal(signal.SIGINT)
        time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 130
    assert stderr == b""


def run_program(directory, source: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `source` as the program in `directory` against a fake monitor (no --engine: errors go to stderr)."""
    write(directory / "__main__.py", source)
    with fake_monitor() as monitor:
        return subprocess.run(
            [sys.executable, str(EXEC_SCRIPT), "--monitor", monitor, "--project", "demo", "--stack", "dev",
             "--parallel", "4", "--dry_run", "true", "--pwd", str(directory), "."],
            capture_output=True, text=True, timeout=60, check=False, env={**os.environ, **env},
        )  # fmt: skip


def test_the_program_reads_its_config_and_secret_keys_from_the_environment(tmp_path):
    completed = run_program(
        tmp_path,
        """
        import pulumi
        from pulumi.runtime.config import is_config_secret

        print(pulumi.Config().require("greeting"), is_config_secret("demo:token"), is_config_secret("demo:greeting"))
        """,
        PULUMI_CONFIG='{"demo:greeting":"hello","demo:token":"s3cr3t"}',
        PULUMI_CONFIG_SECRET_KEYS='["demo:token"]',
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "hello True False\n"


def test_a_run_error_is_its_message_and_exit_1(tmp_path):
    completed = run_program(tmp_path, "import pulumi\nraise pulumi.RunError('greeting is required')\n")
    assert completed.returncode == 1
    assert "greeting is required" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_an_exception_is_the_users_traceback_and_exit_32(tmp_path):
    completed = run_program(tmp_path, "def explode():\n    raise ValueError('boom')\n\nexplode()\n")
    assert completed.returncode == 32
    assert completed.stderr.count("Traceback (most recent call last)") == 1
    assert "Program failed with an unhandled exception" in completed.stderr
    assert f'File "{tmp_path / "__main__.py"}", line 4, in <module>' in completed.stderr
    assert "exec_program.py" not in completed.stderr
