"""`make preview`, `make up` and `make destroy` run tools/deploy.py, which drives whichever Pulumi CLI it chose."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tools.cluster.layout import ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def run_make(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [shutil.which("make") or "make", *args],  # found: the module is skipped without it
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**env, "MAKEFLAGS": ""},
        check=False,
    )


@pytest.fixture
def users_own_setup(tmp_path) -> dict[str, str]:
    """A user with their own CLI (a fake that prints its arguments), Pulumi backend and cluster."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "pulumi"
    script.write_text('#!/bin/sh\necho "pulumi $*"\n')
    script.chmod(0o755)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("{}\n")
    return {
        **os.environ,
        "PATH": os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")]),
        "PULUMI_BACKEND_URL": f"file://{tmp_path}/state",
        "KUBECONFIG": str(kubeconfig),
    }


@pytest.mark.parametrize(
    ("target", "command"),
    [
        ("preview", f"pulumi preview --diff --policy-pack {ROOT}/policy --stack prod --non-interactive"),
        ("up", f"pulumi up --yes --policy-pack {ROOT}/policy --stack prod --non-interactive"),
        ("destroy", "pulumi destroy --yes --skip-preview --stack prod --non-interactive"),
    ],
)
def test_the_wrappers_run_the_users_own_cli_on_the_stack_with_the_policy_pack(users_own_setup, target, command):
    result = run_make("-s", target, "STACK=prod", env=users_own_setup)

    assert result.returncode == 0, result.stderr
    printed = result.stdout.strip().splitlines()
    assert "pulumi stack select --create --non-interactive prod" not in printed  # captured, not shown
    assert command in printed
    # Each choice is said: the user's CLI, state and cluster, none of the local pieces.
    assert "(yours, from PATH)" in result.stderr
    assert "cluster: " in result.stderr and "(yours)" in result.stderr


def test_an_unknown_stack_is_refused_before_anything_is_built_or_run(users_own_setup):
    result = run_make("-s", "preview", "STACK=staging", env=users_own_setup)

    assert result.returncode != 0
    assert "no stack file Pulumi.staging.yaml" in result.stderr
    assert "pulumi" not in result.stdout
