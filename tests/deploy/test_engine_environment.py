"""tools/deploy.py's choices: the user's CLI, state backend and cluster win; local pieces fill in only what is
missing, and each choice is said in one line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tools import deploy


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def fake_cli(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    cli = directory / "pulumi"
    cli.write_text("#!/bin/sh\n")
    cli.chmod(0o755)
    return cli


def test_the_users_cli_backend_and_cluster_are_used_as_they_are(home, tmp_path):
    cli = fake_cli(tmp_path / "bin")
    env = {"PATH": str(cli.parent), "PULUMI_ACCESS_TOKEN": "t", "KUBECONFIG": "/k"}
    engine = deploy.engine_environment(env, start_cluster=False, project_dir=tmp_path)
    assert engine.cli == str(cli)
    assert engine.env["KUBECONFIG"] == "/k"
    assert "PULUMI_BACKEND_URL" not in engine.env
    assert "PULUMI_IGNORE_AMBIENT_PLUGINS" not in engine.env
    assert [c.split(":")[0] for c in engine.choices] == ["CLI", "state", "cluster"]


def test_a_pulumi_login_counts_as_a_backend(home, tmp_path):
    (home / ".pulumi").mkdir()
    (home / ".pulumi" / "credentials.json").write_text(json.dumps({"current": "https://api.pulumi.com"}))
    engine = deploy.engine_environment(
        {"PATH": str(fake_cli(tmp_path / "bin").parent), "KUBECONFIG": "/k"},
        start_cluster=False,
        project_dir=tmp_path,
    )
    assert "PULUMI_BACKEND_URL" not in engine.env


def test_without_a_login_state_goes_to_a_local_file_backend_with_an_empty_passphrase(home, tmp_path):
    engine = deploy.engine_environment(
        {"PATH": str(fake_cli(tmp_path / "bin").parent), "KUBECONFIG": "/k"},
        start_cluster=False,
        project_dir=tmp_path,
    )
    assert engine.env["PULUMI_BACKEND_URL"] == f"file://{tmp_path}/.pulumi-state"
    assert engine.env["PULUMI_CONFIG_PASSPHRASE"] == ""
    assert (tmp_path / ".pulumi-state").is_dir()


def test_a_passphrase_the_user_set_is_kept(home, tmp_path):
    env = {"PATH": str(fake_cli(tmp_path / "bin").parent), "KUBECONFIG": "/k", "PULUMI_CONFIG_PASSPHRASE_FILE": "/p"}
    engine = deploy.engine_environment(env, start_cluster=False, project_dir=tmp_path)
    assert "PULUMI_CONFIG_PASSPHRASE" not in engine.env


def test_a_current_kube_context_counts_as_a_cluster(home, tmp_path):
    (home / ".kube").mkdir()
    (home / ".kube" / "config").write_text("apiVersion: v1\ncurrent-context: kind-dev\n")
    engine = deploy.engine_environment(
        {"PATH": str(fake_cli(tmp_path / "bin").parent), "PULUMI_ACCESS_TOKEN": "t"},
        start_cluster=False,
        project_dir=tmp_path,
    )
    assert "KUBECONFIG" not in engine.env
    assert engine.choices[-1] == "cluster: ~/.kube/config (yours)"


def test_without_a_cluster_the_local_one_is_used(home, tmp_path):
    (home / ".kube").mkdir()
    (home / ".kube" / "config").write_text('apiVersion: v1\ncurrent-context: ""\n')
    engine = deploy.engine_environment(
        {"PATH": str(fake_cli(tmp_path / "bin").parent), "PULUMI_ACCESS_TOKEN": "t"},
        start_cluster=False,
        project_dir=tmp_path,
    )
    assert engine.env["KUBECONFIG"].endswith(".cluster/kubeconfig")


def test_no_cli_anywhere_is_one_clear_error(home, tmp_path, monkeypatch):
    monkeypatch.setattr(deploy, "TOOLCHAIN_BIN", tmp_path / "empty")
    with pytest.raises(
        deploy.DeployError, match=r"no Pulumi CLI: install one, or build the project's with `make toolchain`"
    ):
        deploy.engine_environment({"PATH": str(tmp_path)}, start_cluster=False, project_dir=tmp_path)


def test_the_toolchain_cli_runs_with_only_its_installed_plugins(home, tmp_path, monkeypatch):
    toolchain_bin = tmp_path / "toolchain"
    fake_cli(toolchain_bin)
    monkeypatch.setattr(deploy, "TOOLCHAIN_BIN", toolchain_bin)
    monkeypatch.setattr(deploy.toolchain, "TOOLCHAIN_BIN", toolchain_bin)
    installed = []
    monkeypatch.setattr(deploy.toolchain, "install_plugins", lambda env: installed.append(env["PATH"]) or [])
    engine = deploy.engine_environment(
        {"PATH": "/usr/bin", "PULUMI_ACCESS_TOKEN": "t", "KUBECONFIG": "/k"}, start_cluster=False, project_dir=tmp_path
    )
    assert engine.cli == str(toolchain_bin / "pulumi")
    assert engine.env["PATH"].split(os.pathsep)[0] == str(toolchain_bin)
    assert engine.env["PULUMI_IGNORE_AMBIENT_PLUGINS"] == "true"
    assert engine.env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] == "true"
    assert installed, "the toolchain's plugins are installed into the CLI's plugin cache"
