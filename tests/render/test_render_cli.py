"""`python -m tools.render` as a user runs it: clear one-line errors, exit codes, secrets never written."""

from __future__ import annotations

import base64
import subprocess
import sys

import pytest
import yaml

from tools import checkov_scan, render, render_output, stack_run

from .conftest import ROOT, make_project, stack_config


def run_render(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tools.render", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_a_config_error_is_one_line_naming_the_key_and_exits_1_without_traceback(tmp_path):
    config = stack_config("dev")
    config["ml-platform:models"]["breast-cancer"]["replicas"] = {"min": 5, "max": 3}
    project = make_project(tmp_path / "project", "bad", config)

    result = run_render("--stack", "bad", "--project-dir", str(project), "--out", str(tmp_path / "out"))

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("Pulumi.bad.yaml: models.breast-cancer.replicas: ")
    assert not (tmp_path / "out").exists(), "nothing is written for an invalid config"


def test_a_stack_file_that_is_not_yaml_is_one_line_and_exit_1(tmp_path):
    project = make_project(tmp_path / "project", "broken", {})
    (project / "Pulumi.broken.yaml").write_text("config:\n  ml-platform:models: [\n")

    result = run_render("--stack", "broken", "--project-dir", str(project), "--out", str(tmp_path / "out"))

    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("Pulumi.broken.yaml:") and "YAML" in line


def test_an_output_path_that_is_a_file_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "taken").write_text("")

    result = run_render("--stack", "dev", "--out", str(tmp_path / "taken"))

    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].startswith("render: cannot write to --out ")
    assert "Traceback" not in result.stderr


def test_an_unknown_stack_is_one_line_and_exit_2(tmp_path):
    result = run_render("--stack", "staging", "--out", str(tmp_path))

    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert "Pulumi.staging.yaml" in line and "dev" in line and "prod" in line


@pytest.mark.parametrize("args", [[], ["--stack", "dev", "--colour"]])
def test_bad_arguments_are_one_line_and_exit_2(args):
    result = run_render(*args)

    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("render: ")


def test_secret_values_are_masked_in_the_written_files(tmp_path):
    config = stack_config("dev")
    config["ml-platform:apiToken"] = {"secure": "v1:AAAAAAAAAAAAAAAA:notdecryptableoffline"}
    config["ml-platform:models"]["breast-cancer"].setdefault("env", {})["API_TOKEN"] = {"secretKey": "apiToken"}
    project = make_project(tmp_path / "project", "sec", config)
    out = tmp_path / "out"

    checkov = [] if checkov_scan.available() else ["--skip-checkov"]  # its skip annotations are checked too

    code = render.main(["--stack", "sec", "--project-dir", str(project), "--out", str(out), *checkov])

    assert code == 0
    [secret] = [yaml.safe_load(p.read_text()) for p in out.glob("secret-*.yaml")]
    values = {**secret.get("stringData", {}), **secret.get("data", {})}
    assert set(values) == {"API_TOKEN"}
    assert set(values.values()) <= {render_output.MASK, base64.b64encode(render_output.MASK.encode()).decode()}
    plain = stack_run.SECRET_PLACEHOLDER
    encoded = base64.b64encode(plain.encode()).decode()
    for path in out.iterdir():
        text = path.read_text()
        assert plain not in text and encoded not in text, path.name


def test_a_rerender_removes_objects_that_are_gone_and_nothing_else(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "deployment-retired.yaml").write_text("kind: Deployment\n")
    (out / render_output.INDEX_FILE).write_text("deployment-retired.yaml\n")

    assert render.main(["--stack", "dev", "--out", str(out), "--skip-checkov"]) == 0

    assert not (out / "deployment-retired.yaml").exists()
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "deployment-breast-cancer.yaml").is_file()


def test_rendering_twice_writes_identical_files(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        assert render.main(["--stack", "prod", "--out", str(out), "--skip-checkov"]) == 0

    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_mask_secrets_leaves_other_kinds_alone():
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "c2VjcmV0"}}

    assert render_output.mask_secrets(config_map) == config_map
    assert render_output.mask_secrets(secret)["data"] == {"k": base64.b64encode(render_output.MASK.encode()).decode()}
    assert secret["data"] == {"k": "c2VjcmV0"}, "the input is not modified"
