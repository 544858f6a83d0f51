"""The schema cache: each schema read once per process, and validation exactly as kubernetes-validate's own."""

import copy
from collections import Counter
from typing import Any

import jsonschema
import pytest
from kubernetes_validate import utils as kv

from tools import schema_cache, validate

from .test_validate import DEPLOYMENT

SERVICE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "breast-cancer", "namespace": "ml-dev"},
    "spec": {"selector": {"app.kubernetes.io/name": "breast-cancer"}, "ports": [{"port": 8080}]},
}


@pytest.fixture
def reads(monkeypatch):
    """Every schema file kubernetes-validate's reader opens, counted, from an empty cache."""
    counted: Counter[str] = Counter()
    real = kv.schema_contents

    def counting(filename, desired_version):
        counted[filename] += 1
        return real(filename, desired_version)

    schema_cache.clear()
    monkeypatch.setattr(kv, "schema_contents", counting)
    yield counted
    schema_cache.clear()  # later tests start from schemas read the ordinary way


def test_each_schema_is_read_once_per_version_and_kind(reads):
    versions = validate.supported_versions()
    objects = [dict(DEPLOYMENT, metadata={"name": f"model-{i}", "namespace": "ml-dev"}) for i in range(3)]
    objects += [SERVICE, copy.deepcopy(SERVICE)]

    validate.validate_objects(objects, versions)
    validate.validate_objects(objects, versions)

    assert set(reads.values()) == {1}
    files = [name.rsplit("/", 1)[-1] for name in reads]
    assert Counter(files) == {
        "_definitions.json": len(versions),
        "deployment-apps-v1.json": len(versions),
        "service-v1.json": len(versions),
    }


def test_a_kind_without_a_schema_is_looked_up_once_per_version(reads):
    gizmo = {"apiVersion": "example.com/v1", "kind": "Gizmo", "metadata": {"name": "g"}}

    first = validate.validate_objects([gizmo, gizmo])

    assert [p.message for p in first] == ["no schema for kind 'Gizmo' in apiVersion 'example.com/v1'"] * 2
    assert set(reads.values()) == {1} and len(reads) == len(validate.supported_versions())


@pytest.mark.parametrize("version", validate.supported_versions())
def test_strict_mode_rejects_an_unknown_field_on_every_version(version):
    broken = copy.deepcopy(DEPLOYMENT)
    broken["spec"]["template"]["spec"]["containers"][0]["imagePullPolice"] = "Always"

    [problem] = validate.validate_objects([broken], [version])

    assert str(problem) == (
        "Deployment ml-dev/breast-cancer: spec.template.spec.containers[0].imagePullPolice: unknown field "
        f"(Kubernetes {version})"
    )


def test_a_wrong_type_fails_with_the_same_message():
    broken = copy.deepcopy(DEPLOYMENT)
    broken["spec"]["replicas"] = "three"

    [problem] = validate.validate_objects([broken])

    assert str(problem) == (
        "Deployment ml-dev/breast-cancer: spec.replicas: 'three' is not of type 'integer', 'null' (Kubernetes 1.31-"
        f"{validate.supported_versions()[-1]})"
    )


def _broken_objects() -> list[dict]:
    wrong_type = copy.deepcopy(DEPLOYMENT)
    wrong_type["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    missing = copy.deepcopy(DEPLOYMENT)
    del missing["spec"]["template"]["spec"]["containers"][0]["name"]
    unknown = copy.deepcopy(SERVICE)
    unknown["spec"]["clusterIp"] = "None"
    one_of = copy.deepcopy(DEPLOYMENT)
    one_of["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": {}}}
    return [wrong_type, missing, unknown, one_of]


@pytest.mark.parametrize("version", validate.supported_versions())
def test_errors_are_the_ones_kubernetes_validate_itself_raises(version):
    for broken in _broken_objects():
        with pytest.raises(kv.ValidationError) as expected:
            kv.validate(copy.deepcopy(broken), version, strict=True)

        with pytest.raises(jsonschema.ValidationError) as cached:
            schema_cache.validator(version, broken["apiVersion"], broken["kind"]).validate(broken)

        assert (cached.value.message, list(cached.value.path), cached.value.validator) == (
            expected.value.message,
            list(expected.value.path),
            expected.value.validator,
        )


def test_a_version_newer_than_the_schemas_is_refused_as_kubernetes_validate_refuses_it():
    with pytest.raises(kv.VersionNotSupportedError):
        schema_cache.validator("1.99", "apps/v1", "Deployment")
