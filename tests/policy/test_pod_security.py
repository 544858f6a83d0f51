"""Pod Security Standards "restricted" and the read-only root filesystem."""

import pytest

from policy import PolicyContext, evaluate
from tests.policy import manifests as m

PROD = PolicyContext(environment="production")


def fields(objects, rule):
    return [v.field for v in evaluate(objects, PROD) if v.rule == rule]


def test_compliant_pod_passes_pod_security():
    assert fields([m.deployment()], "pod-security-restricted") == []


@pytest.mark.parametrize("host_field", ["hostNetwork", "hostPID", "hostIPC"])
def test_host_namespaces_are_rejected(host_field):
    deployment = m.deployment()
    m.pod_spec_of(deployment)[host_field] = True
    assert fields([deployment], "pod-security-restricted") == [f"spec.template.spec.{host_field}"]


def test_privileged_container_is_rejected():
    deployment = m.deployment()
    m.container_of(deployment)["securityContext"]["privileged"] = True
    assert "spec.template.spec.containers[0].securityContext.privileged" in fields(
        [deployment], "pod-security-restricted"
    )


def test_privilege_escalation_must_be_explicitly_false():
    deployment = m.deployment()
    del m.container_of(deployment)["securityContext"]["allowPrivilegeEscalation"]
    assert fields([deployment], "pod-security-restricted") == [
        "spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation"
    ]


def test_capabilities_must_drop_all():
    deployment = m.deployment()
    m.container_of(deployment)["securityContext"]["capabilities"] = {"drop": ["NET_RAW"]}
    assert fields([deployment], "pod-security-restricted") == [
        "spec.template.spec.containers[0].securityContext.capabilities.drop"
    ]


def test_only_net_bind_service_may_be_added():
    deployment = m.deployment()
    m.container_of(deployment)["securityContext"]["capabilities"]["add"] = ["NET_BIND_SERVICE"]
    assert fields([deployment], "pod-security-restricted") == []
    m.container_of(deployment)["securityContext"]["capabilities"]["add"] = ["SYS_ADMIN"]
    violations = [v for v in evaluate([deployment], PROD) if v.rule == "pod-security-restricted"]
    assert [v.field for v in violations] == ["spec.template.spec.containers[0].securityContext.capabilities.add"]
    assert "SYS_ADMIN" in violations[0].message


def test_run_as_non_root_may_come_from_the_pod_or_the_container():
    deployment = m.deployment()
    del m.pod_spec_of(deployment)["securityContext"]["runAsNonRoot"]
    assert fields([deployment], "pod-security-restricted") == []  # the container still sets it
    del m.container_of(deployment)["securityContext"]["runAsNonRoot"]
    assert fields([deployment], "pod-security-restricted") == [
        "spec.template.spec.containers[0].securityContext.runAsNonRoot"
    ]


def test_container_cannot_turn_run_as_non_root_off():
    deployment = m.deployment()
    m.container_of(deployment)["securityContext"]["runAsNonRoot"] = False
    assert fields([deployment], "pod-security-restricted") == [
        "spec.template.spec.containers[0].securityContext.runAsNonRoot"
    ]


def test_root_user_is_rejected():
    deployment = m.deployment()
    m.pod_spec_of(deployment)["securityContext"]["runAsUser"] = 0
    assert fields([deployment], "pod-security-restricted") == ["spec.template.spec.securityContext.runAsUser"]


def test_seccomp_profile_is_required():
    deployment = m.deployment()
    del m.pod_spec_of(deployment)["securityContext"]["seccompProfile"]
    assert fields([deployment], "pod-security-restricted") == [
        "spec.template.spec.containers[0].securityContext.seccompProfile.type"
    ]


def test_unconfined_seccomp_is_rejected():
    deployment = m.deployment()
    m.container_of(deployment)["securityContext"]["seccompProfile"] = {"type": "Unconfined"}
    assert fields([deployment], "pod-security-restricted") == [
        "spec.template.spec.containers[0].securityContext.seccompProfile.type"
    ]


def test_host_path_volume_is_rejected():
    deployment = m.deployment()
    m.pod_spec_of(deployment)["volumes"].append({"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}})
    assert fields([deployment], "pod-security-restricted") == ["spec.template.spec.volumes[1].hostPath"]


def test_host_port_is_rejected():
    deployment = m.deployment()
    m.container_of(deployment)["ports"][0]["hostPort"] = 8080
    assert fields([deployment], "pod-security-restricted") == ["spec.template.spec.containers[0].ports[0].hostPort"]


def test_unsafe_sysctl_is_rejected():
    deployment = m.deployment()
    m.pod_spec_of(deployment)["securityContext"]["sysctls"] = [{"name": "kernel.msgmax", "value": "1"}]
    assert fields([deployment], "pod-security-restricted") == ["spec.template.spec.securityContext.sysctls[0].name"]


def test_init_containers_are_held_to_the_same_standard():
    deployment = m.deployment()
    m.pod_spec_of(deployment)["initContainers"] = [{"name": "init", "image": m.IMAGE}]
    problems = fields([deployment], "pod-security-restricted")
    assert "spec.template.spec.initContainers[0].securityContext.allowPrivilegeEscalation" in problems
    assert "spec.template.spec.initContainers[0].securityContext.capabilities.drop" in problems


def test_objects_without_pods_are_not_judged():
    assert fields([m.service(), m.hpa(), m.namespace()], "pod-security-restricted") == []


def test_compliant_pod_passes_read_only_root_filesystem():
    assert fields([m.deployment()], "read-only-root-filesystem") == []


def test_writable_root_filesystem_is_rejected():
    deployment = m.deployment()
    m.container_of(deployment)["securityContext"]["readOnlyRootFilesystem"] = False
    assert fields([deployment], "read-only-root-filesystem") == [
        "spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem"
    ]


def test_unset_read_only_root_filesystem_is_rejected():
    deployment = m.deployment()
    del m.container_of(deployment)["securityContext"]["readOnlyRootFilesystem"]
    assert fields([deployment], "read-only-root-filesystem") == [
        "spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem"
    ]


def test_cronjob_pods_are_found():
    deployment = m.deployment()
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": deployment["metadata"],
        "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": deployment["spec"]["template"]}}},
    }
    assert fields([cronjob], "read-only-root-filesystem") == []
    m.container_of(deployment)["securityContext"]["readOnlyRootFilesystem"] = False
    assert fields([cronjob], "read-only-root-filesystem") == [
        "spec.jobTemplate.spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem"
    ]
