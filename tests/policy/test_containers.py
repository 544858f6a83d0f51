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


def with_model_handoff(volume: dict, read_only: bool | None) -> dict:
    """A deployment whose server mounts the model volume (readOnly as given), filled by a copier or an image."""
    deployment = m.deployment()
    spec = m.pod_spec_of(deployment)
    spec["volumes"] = [{"name": "model", **volume}]
    mount: dict[str, object] = {"name": "model", "mountPath": "/var/lib/model"}
    if read_only is not None:
        mount["readOnly"] = read_only
    m.container_of(deployment)["volumeMounts"] = [mount]
    if "emptyDir" in volume:
        spec["initContainers"] = [{"name": "copy-model", "volumeMounts": [{"name": "model", "mountPath": "/out"}]}]
    return deployment


@pytest.mark.parametrize(
    "volume",
    [{"emptyDir": {}}, {"image": {"reference": m.IMAGE, "pullPolicy": "IfNotPresent"}}],
    ids=["copied", "image"],
)
@pytest.mark.parametrize("read_only", [False, None])
def test_a_model_volume_the_server_could_write_is_rejected(volume, read_only):
    assert fields([with_model_handoff(volume, read_only)], "handoff-volumes-read-only") == [
        "spec.template.spec.containers[0].volumeMounts[0].readOnly"
    ]


@pytest.mark.parametrize("volume", [{"emptyDir": {}}, {"image": {"reference": m.IMAGE}}], ids=["copied", "image"])
def test_a_model_volume_mounted_read_only_passes(volume):
    assert fields([with_model_handoff(volume, True)], "handoff-volumes-read-only") == []


def test_a_scratch_volume_no_init_container_fills_may_be_written():
    deployment = m.deployment()
    m.pod_spec_of(deployment)["volumes"] = [{"name": "tmp", "emptyDir": {}}]
    m.container_of(deployment)["volumeMounts"] = [{"name": "tmp", "mountPath": "/tmp"}]
    assert fields([deployment], "handoff-volumes-read-only") == []
