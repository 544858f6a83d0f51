"""Resource requests and the memory limit; readiness and liveness probes."""

import pytest

from policy import PolicyContext, evaluate
from tests.policy import manifests as m

PROD = PolicyContext(environment="production")


def fields(objects, rule):
    return [v.field for v in evaluate(objects, PROD) if v.rule == rule]


def test_container_with_requests_and_memory_limit_passes():
    assert fields([m.deployment()], "resource-requests-and-memory-limit") == []


@pytest.mark.parametrize("section,resource", [("requests", "cpu"), ("requests", "memory"), ("limits", "memory")])
def test_missing_request_or_memory_limit_is_rejected(section, resource):
    deployment = m.deployment()
    del m.container_of(deployment)["resources"][section][resource]
    assert fields([deployment], "resource-requests-and-memory-limit") == [
        f"spec.template.spec.containers[0].resources.{section}.{resource}"
    ]


def test_cpu_limit_is_not_required():
    deployment = m.deployment()
    del m.container_of(deployment)["resources"]["limits"]["cpu"]
    assert fields([deployment], "resource-requests-and-memory-limit") == []


def test_container_without_resources_is_rejected_for_each_field():
    deployment = m.deployment()
    del m.container_of(deployment)["resources"]
    assert len(fields([deployment], "resource-requests-and-memory-limit")) == 3


def test_container_with_both_probes_passes():
    assert fields([m.deployment()], "probes") == []


@pytest.mark.parametrize("probe", ["readinessProbe", "livenessProbe"])
def test_missing_probe_is_rejected(probe):
    deployment = m.deployment()
    del m.container_of(deployment)[probe]
    assert fields([deployment], "probes") == [f"spec.template.spec.containers[0].{probe}"]


def test_jobs_need_no_probes():
    deployment = m.deployment()
    del m.container_of(deployment)["readinessProbe"]
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": deployment["metadata"],
        "spec": {"template": deployment["spec"]["template"]},
    }
    assert fields([job], "probes") == []
