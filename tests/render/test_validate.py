"""Strict schema validation: every supported Kubernetes version, unknown fields and apiVersions rejected."""

import copy
from typing import Any

from kubernetes_validate import utils as kv
from packaging.version import Version

from tools import validate

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "breast-cancer", "namespace": "ml-dev", "labels": {"app.kubernetes.io/name": "breast-cancer"}},
    "spec": {
        "selector": {"matchLabels": {"app.kubernetes.io/name": "breast-cancer"}},
        "template": {
            "metadata": {"labels": {"app.kubernetes.io/name": "breast-cancer"}},
            "spec": {
                "containers": [
                    {"name": "model", "image": "registry/breast-cancer:1.0", "ports": [{"containerPort": 8080}]}
                ]
            },
        },
    },
}


def test_supported_versions_run_from_1_31_to_the_newest_schema_shipped():
    versions = validate.supported_versions()
    newest = kv.major_minor(kv.latest_version())

    assert versions[0] == "1.31"
    assert versions[-1] == newest
    assert len(versions) == Version(newest).minor - 31 + 1  # no gaps


def test_a_valid_object_passes_for_every_version():
    assert validate.validate_objects([DEPLOYMENT]) == []


def test_an_unknown_field_is_named_with_its_full_path_and_the_object():
    broken = copy.deepcopy(DEPLOYMENT)
    broken["spec"]["template"]["spec"]["containers"][0]["imagePullPolice"] = "Always"

    [problem] = validate.validate_objects([broken])

    assert problem.object_name == "Deployment ml-dev/breast-cancer"
    assert problem.field == "spec.template.spec.containers[0].imagePullPolice"
    assert problem.message == "unknown field"
    assert problem.versions == tuple(validate.supported_versions())
    assert str(problem).startswith(
        "Deployment ml-dev/breast-cancer: spec.template.spec.containers[0].imagePullPolice: unknown field"
    )


def test_an_unknown_api_version_is_an_error_not_a_warning():
    broken = dict(DEPLOYMENT, apiVersion="apps/v1beta1")

    [problem] = validate.validate_objects([broken])

    assert problem.field == "apiVersion"
    assert "apps/v1beta1" in problem.message


def test_a_wrong_type_is_named_with_its_field():
    broken = copy.deepcopy(DEPLOYMENT)
    broken["spec"]["replicas"] = "three"

    [problem] = validate.validate_objects([broken])

    assert problem.field == "spec.replicas"
    assert "'three'" in problem.message


def test_an_api_removed_in_a_supported_version_fails_only_there():
    # flowcontrol v1beta3 was served until 1.31 and removed in 1.32.
    schema = {
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1beta3",
        "kind": "FlowSchema",
        "metadata": {"name": "f"},
        "spec": {"priorityLevelConfiguration": {"name": "p"}},
    }

    problems = validate.validate_objects([schema])

    assert problems, "v1beta3 FlowSchema must fail on the versions that no longer serve it"
    assert "1.31" not in problems[0].versions
    assert problems[0].versions[-1] == validate.supported_versions()[-1]


def test_an_object_without_kind_is_reported():
    [problem] = validate.validate_objects([{"apiVersion": "v1", "metadata": {"name": "x"}}])

    assert problem.field == "kind"
    assert problem.message == "missing"
