"""`make preview` and `make up` wrap the Pulumi CLI, and say so clearly where it is missing."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def run_make(*args: str, path: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": path, "MAKEFLAGS": ""}
    return subprocess.run([shutil.which("make"), *args], cwd=ROOT, capture_output=True, text=True, env=env, check=False)


def path_without_pulumi() -> str:
    """PATH with every directory that holds a `pulumi` left out, plus where bash and coreutils live."""
    kept = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and not os.path.exists(os.path.join(d, "pulumi"))]
    return os.pathsep.join(kept or ["/usr/bin", "/bin"])


def fake_pulumi(tmp_path) -> str:
    """A `pulumi` that prints its arguments, first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "pulumi"
    script.write_text('#!/bin/sh\necho "pulumi $*"\n')
    script.chmod(0o755)
    return os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")])


@pytest.mark.parametrize("target", ["preview", "up"])
def test_a_missing_pulumi_cli_is_a_clear_error(target):
    result = run_make(target, "STACK=dev", path=path_without_pulumi())

    assert result.returncode != 0
    assert f"make {target}: the Pulumi CLI is not installed" in result.stderr


@pytest.mark.parametrize(
    ("target", "command"), [("preview", "pulumi preview --diff --stack prod"), ("up", "pulumi up --stack prod")]
)
def test_the_wrappers_call_the_pulumi_cli_for_the_stack(tmp_path, target, command):
    result = run_make("-s", target, "STACK=prod", path=fake_pulumi(tmp_path))

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == command


def test_an_unknown_stack_is_refused_before_pulumi_runs(tmp_path):
    result = run_make("-s", "preview", "STACK=staging", path=fake_pulumi(tmp_path))

    assert result.returncode != 0
    assert "no stack file Pulumi.staging.yaml" in result.stderr
    assert "pulumi preview" not in result.stdout
