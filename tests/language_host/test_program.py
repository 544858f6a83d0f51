"""Run's command line and environment, and what the exec script's exit code tells the engine."""

import json
import signal
from pathlib import Path

from pulumi.runtime.proto import language_pb2

from tests.language_host.host import program_info
from toolchain.language_host.program import (
    EXEC_SCRIPT,
    config_environment,
    exec_arguments,
    program_command,
    run_outcome,
)
from toolchain.language_host.virtualenv import PythonEnvironment


def run_request(directory: Path, **fields) -> language_pb2.RunRequest:
    defaults = {
        "project": "demo",
        "stack": "dev",
        "pwd": str(directory),
        "monitor_address": "127.0.0.1:7001",
        "parallel": 16,
        "dryRun": True,
        "organization": "organization",
        "info": program_info(directory),
    }
    return language_pb2.RunRequest(**{**defaults, **fields})


def test_the_exec_script_gets_upstreams_flags_then_the_entry_point_then_the_programs_arguments(tmp_path):
    request = run_request(tmp_path, args=["--flag", "x"])
    assert exec_arguments(request, "127.0.0.1:7000", "") == [
        "--monitor", "127.0.0.1:7001",
        "--engine", "127.0.0.1:7000",
        "--project", "demo",
        "--root_directory", str(tmp_path),
        "--stack", "dev",
        "--pwd", str(tmp_path),
        "--dry_run", "true",
        "--parallel", "16",
        "--organization", "organization",
        ".", "--flag", "x",
    ]  # fmt: skip


def test_an_update_is_not_a_dry_run_and_empty_values_are_left_out(tmp_path):
    arguments = exec_arguments(run_request(tmp_path, dryRun=False, organization=""), "e:1", "")
    assert arguments[arguments.index("--dry_run") + 1] == "false"
    assert "--organization" not in arguments and "--tracing" not in arguments


def test_config_travels_as_json_with_its_secret_keys():
    env = config_environment({"demo:b": "2", "demo:a": "1"}, ["demo:a"])
    assert json.loads(env["PULUMI_CONFIG"]) == {"demo:a": "1", "demo:b": "2"}
    assert env["PULUMI_CONFIG"] == '{"demo:a":"1","demo:b":"2"}'
    assert json.loads(env["PULUMI_CONFIG_SECRET_KEYS"]) == ["demo:a"]


def test_no_config_sets_no_config_variable_but_always_the_secret_key_list():
    assert config_environment({}, []) == {"PULUMI_CONFIG_SECRET_KEYS": "[]"}


def test_the_program_runs_the_exec_script_with_its_virtualenvs_python_activated(tmp_path):
    venv = tmp_path / ".venv"
    request = run_request(tmp_path, config={"demo:name": "x"}, configSecretKeys=[])
    command = program_command(
        request, PythonEnvironment(venv=venv), engine_address="e:1", tracing="", base_env={"PATH": "/usr/bin"}
    )
    assert command.argv[:2] == [str(venv / "bin" / "python"), str(EXEC_SCRIPT)]
    assert command.env["PATH"].split(":")[0] == str(venv / "bin")
    assert command.env["VIRTUAL_ENV"] == str(venv)
    assert json.loads(command.env["PULUMI_CONFIG"]) == {"demo:name": "x"}
    assert command.cwd == str(tmp_path)


def test_exit_codes():
    assert run_outcome(0) == ("", False)
    # 32: the program already showed the user an actionable error: bail, the engine adds nothing.
    assert run_outcome(32) == ("", True)
    assert run_outcome(1) == ("program exited with non-zero exit code: 1", False)
    assert run_outcome(-signal.SIGKILL) == ("program exited unexpectedly: killed by SIGKILL", False)
