"""RunPlugin's command: policy packs through pulumi.policy, plugins through their __main__.py."""

import json
from pathlib import Path

import pytest
from pulumi.runtime.proto import analyzer_pb2, language_pb2

from tests.language_host.host import program_info, write
from toolchain.language_host.options import options_from_program_info
from toolchain.language_host.plugin import PluginError, buildable_package_name, plugin_command
from toolchain.language_host.policy_proxy import policy_environment
from toolchain.language_host.virtualenv import PythonEnvironment


def request(directory: Path, kind: str, venv: Path) -> language_pb2.RunPluginRequest:
    return language_pb2.RunPluginRequest(
        pwd="/work/project",
        args=["-v=9", "127.0.0.1:7000"],
        env=["PATH=/usr/bin", "FROM_ENGINE=1"],
        info=program_info(directory, venv=venv),
        kind=kind,
    )


def test_a_policy_pack_runs_pulumi_policy_from_its_own_directory_with_the_stack_in_its_environment(tmp_path):
    venv = tmp_path / "pack" / ".venv"
    req = request(tmp_path / "pack", "analyzer", venv)
    options = options_from_program_info(req.info)
    stack = analyzer_pb2.AnalyzerStackConfigureRequest(
        stack="dev", project="demo", organization="org", dry_run=True, config={"demo:env": "production"}
    )
    command = plugin_command(req, options, PythonEnvironment.for_options(options), policy_env=policy_environment(stack))
    assert command.argv == [
        str(venv / "bin" / "python"), "-u", "-m", "pulumi.policy", "-v=9", "127.0.0.1:7000", str(tmp_path / "pack")
    ]  # fmt: skip
    assert command.cwd == str(tmp_path / "pack")
    assert command.env["PULUMI_STACK"] == "dev" and command.env["PULUMI_PROJECT"] == "demo"
    assert command.env["PULUMI_ORGANIZATION"] == "org" and command.env["PULUMI_DRY_RUN"] == "true"
    assert json.loads(command.env["PULUMI_CONFIG"]) == {"demo:env": "production"}
    assert command.env["FROM_ENGINE"] == "1"
    assert command.env["PATH"] == f"{venv / 'bin'}:/usr/bin"


def test_no_stack_configuration_means_no_stack_variables():
    assert policy_environment(None) == {}


def test_a_plugin_directory_with_main_runs_it_from_the_engines_directory(tmp_path):
    write(tmp_path / "plugin" / "__main__.py", "print('hi')\n")
    venv = tmp_path / "plugin" / "venv"
    req = request(tmp_path / "plugin", "resource", venv)
    options = options_from_program_info(req.info, is_plugin=True)
    command = plugin_command(req, options, PythonEnvironment.for_options(options))
    assert command.argv == [str(venv / "bin" / "python"), str(tmp_path / "plugin"), "-v=9", "127.0.0.1:7000"]
    assert command.cwd == "/work/project"


def test_a_buildable_package_is_named_by_its_pyproject(tmp_path):
    write(
        tmp_path / "pyproject.toml",
        '[project]\nname = "acme-provider"\n[build-system]\nbuild-backend = "hatchling.build"\n',
    )
    assert buildable_package_name(tmp_path) == "acme-provider"


def test_a_pyproject_without_a_build_backend_is_not_buildable(tmp_path):
    write(tmp_path / "pyproject.toml", '[project]\nname = "acme-provider"\n')
    assert buildable_package_name(tmp_path) is None


def test_a_broken_pyproject_is_reported(tmp_path):
    write(tmp_path / "pyproject.toml", "[project\n")
    with pytest.raises(PluginError, match="parsing pyproject.toml"):
        buildable_package_name(tmp_path)
