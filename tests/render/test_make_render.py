"""`make render` as docs/render.md tells a user to run it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from tools import checkov_scan

from .conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "-s", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "MAKEFLAGS": ""},
    )


@pytest.mark.skipif(not checkov_scan.available(), reason="checkov is not installed (`make test` builds .venv-checkov)")
def test_make_render_writes_out_and_passes_every_check(tmp_path):
    result = make("render", "STACK=dev", f"OUT={tmp_path}")

    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "outputs.json").read_text())["namespace"]
    assert (tmp_path / "deployment-breast-cancer.yaml").is_file()
    last = result.stdout.splitlines()[-1]
    assert last.startswith("render: dev: ") and "; valid: " in last and "checkov (" in last and " 0 failed" in last


def test_make_render_with_an_unknown_stack_fails_with_one_line(tmp_path):
    result = make("render", "STACK=staging", f"OUT={tmp_path}")

    assert result.returncode != 0
    own_lines = [line for line in result.stderr.splitlines() if not line.startswith("make")]
    assert len(own_lines) == 1 and own_lines[0].startswith("render: unknown stack 'staging'")
