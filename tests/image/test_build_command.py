"""The `docker build` command that `make image` and the end-to-end test run (tools/docker/build.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.docker.build import MODEL_DIR, BuildError, ImageBuild, build_command, build_image, git_metadata, main

DOCKERFILE = MODEL_DIR / "Dockerfile"


def test_default_build_passes_no_secret_and_leaves_the_base_image_to_the_dockerfile(tmp_path):
    command = build_command(ImageBuild(tag="m:1"), "docker", tmp_path / "iid")
    assert command[:2] == ["docker", "build"]
    assert "--secret" not in command
    assert not any(arg.startswith("BASE_IMAGE=") for arg in command)
    assert command[-1] == str(MODEL_DIR)


def test_ca_file_becomes_the_optional_buildkit_secret_and_base_image_a_build_arg(tmp_path):
    build = ImageBuild(tag="m:1", base_image="local/base:1", ca_file=Path("/etc/proxy-ca.pem"), version="1.2.3")
    command = build_command(build, "docker", tmp_path / "iid")
    assert command[command.index("--secret") + 1] == "id=ca,src=/etc/proxy-ca.pem"
    build_args = [command[i + 1] for i, arg in enumerate(command) if arg == "--build-arg"]
    assert "BASE_IMAGE=local/base:1" in build_args
    assert "VERSION=1.2.3" in build_args


def test_a_missing_ca_file_is_refused_before_docker_runs(tmp_path):
    with pytest.raises(BuildError, match="--ca-file"):
        build_image(ImageBuild(tag="m:1", ca_file=tmp_path / "missing.pem"), docker="sh")


def test_cli_reports_a_missing_ca_file_in_one_line_and_exits_non_zero(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DOCKER", "sh")  # any existing program: the CA check comes first
    assert main(["--tag", "m:1", "--ca-file", str(tmp_path / "missing.pem")]) != 0
    err = capsys.readouterr().err
    assert "missing.pem" in err and "Traceback" not in err


def test_dockerfile_needs_no_frontend_image_and_mounts_the_ca_secret_optionally():
    text = DOCKERFILE.read_text()
    # A "# syntax=" directive makes BuildKit pull a frontend image, which machines without a registry cannot.
    assert not any(line.lower().startswith("# syntax") for line in text.splitlines())
    assert "--mount=type=secret,id=ca,required=false" in text
    assert "ARG BASE_IMAGE=python:3.11-slim-bookworm" in text
    assert "--require-hashes" in text


def test_labels_fall_back_to_the_dockerfile_defaults_outside_a_checkout_or_without_git(tmp_path, monkeypatch):
    assert git_metadata(tmp_path) == {}  # not a git checkout
    monkeypatch.setenv("PATH", str(tmp_path))  # no git executable at all
    assert git_metadata() == {}
