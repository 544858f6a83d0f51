"""`make diff FROM=dev TO=prod`: the two stacks' rendered objects, matched by kind and name, as a unified diff."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tools import diff

from .conftest import ROOT


def obj(kind, name, namespace="ml-dev", **spec):
    return {"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def test_equal_objects_in_other_namespaces_show_only_the_namespace_line():
    text = diff.diff_objects(
        [obj("Service", "breast-cancer", port=8080)],
        [obj("Service", "breast-cancer", "ml-prod", port=8080)],
        "dev",
        "prod",
    )

    changed = [line for line in text.splitlines() if line[:1] in "+-" and line[:3] not in ("---", "+++")]
    assert changed == ["-  namespace: ml-dev", "+  namespace: ml-prod"]
    assert "--- dev/Service/breast-cancer" in text and "+++ prod/Service/breast-cancer" in text


def test_an_object_only_one_stack_has_is_shown_whole():
    text = diff.diff_objects(
        [obj("Service", "breast-cancer")],
        [obj("Service", "breast-cancer"), obj("PodDisruptionBudget", "breast-cancer")],
        "dev",
        "prod",
    )

    assert "--- /dev/null\n+++ prod/PodDisruptionBudget/breast-cancer" in text
    assert "+kind: PodDisruptionBudget" in text
    assert "Service/breast-cancer" not in text


def test_the_stacks_namespaces_are_compared_with_each_other():
    namespace = {"apiVersion": "v1", "kind": "Namespace"}
    text = diff.diff_objects(
        [dict(namespace, metadata={"name": "ml-dev"})], [dict(namespace, metadata={"name": "ml-prod"})], "dev", "prod"
    )

    assert "--- dev/Namespace/ml-dev\n+++ prod/Namespace/ml-prod" in text
    assert "/dev/null" not in text


def test_identical_stacks_print_a_single_line(capsys):
    assert diff.main(["--from", "dev", "--to", "dev"]) == 0

    assert capsys.readouterr().out == "dev and dev render the same objects\n"


def test_dev_and_prod_differ_in_image_and_resources(capsys):
    assert diff.main(["--from", "dev", "--to", "prod"]) == 0

    out = capsys.readouterr().out
    assert "--- dev/Deployment/breast-cancer\n+++ prod/Deployment/breast-cancer" in out
    assert any(line.startswith("+") and "image: " in line and "@sha256:" in line for line in out.splitlines())
    assert "+++ prod/PodDisruptionBudget/breast-cancer" in out  # prod keeps >= 2 pods, so it has a PDB; dev does not


def test_an_unknown_stack_is_a_one_line_error_and_exit_2(capsys):
    assert diff.main(["--from", "dev", "--to", "staging"]) == 2

    [line] = capsys.readouterr().err.splitlines()
    assert "Pulumi.staging.yaml" in line


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_diff_prints_the_differences():
    result = subprocess.run(
        ["make", "-s", "diff", "FROM=dev", "TO=prod"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "MAKEFLAGS": ""},
    )

    assert result.returncode == 0, result.stderr
    assert "+++ prod/Deployment/breast-cancer" in result.stdout
