"""Pod Security Standards "restricted" (which includes "baseline"), and a read-only root filesystem.

Follows https://kubernetes.io/docs/concepts/security/pod-security-standards/ as of Kubernetes 1.31+:
each check below is one row of that page's tables.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from policy.violation import PolicyContext, Violation, object_ref
from policy.workloads import PodTemplate, containers, pod_template_of

POD_SECURITY = "pod-security-restricted"
READ_ONLY_ROOT = "read-only-root-filesystem"

_ALLOWED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    # An image volume (a model image, mounted read-only): Pod Security admission allows it in `restricted` from
    # Kubernetes 1.33 (kubernetes/kubernetes#130394); running an image is already allowed, and this only reads one.
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
_SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
_ALLOWED_SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
_ALLOWED_SECCOMP = {"RuntimeDefault", "Localhost"}
_ALLOWED_APPARMOR = {"RuntimeDefault", "Localhost"}


def check_pod_security(obj: Mapping[str, Any], context: PolicyContext) -> Iterator[Violation]:
    """Every pod the object runs meets the "restricted" Pod Security Standard."""
    template = pod_template_of(obj)
    if template is None:
        return
    name = object_ref(obj)

    def violation(field: str, message: str) -> Violation:
        return Violation(POD_SECURITY, name, field, message)

    yield from (violation(f, m) for f, m in _pod_level_problems(template))
    yield from (violation(f, m) for f, m in _apparmor_annotation_problems(obj, template))
    pod_context = template.spec.get("securityContext") or {}
    for container in containers(template):
        security = container.spec.get("securityContext") or {}
        where = f"{container.path}.securityContext"
        if security.get("privileged") is True:
            yield violation(f"{where}.privileged", "must not be true")
        if security.get("allowPrivilegeEscalation") is not False:
            yield violation(f"{where}.allowPrivilegeEscalation", "must be false")
        capabilities = security.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            yield violation(f"{where}.capabilities.drop", "must include ALL")
        for added in capabilities.get("add") or []:
            if added != "NET_BIND_SERVICE":
                yield violation(f"{where}.capabilities.add", f"{added} is not allowed (only NET_BIND_SERVICE)")
        if security.get("runAsNonRoot") is False:
            yield violation(f"{where}.runAsNonRoot", "must not be false")
        elif security.get("runAsNonRoot") is not True and pod_context.get("runAsNonRoot") is not True:
            yield violation(f"{where}.runAsNonRoot", "must be true (here or in the pod's securityContext)")
        if security.get("runAsUser") == 0:
            yield violation(f"{where}.runAsUser", "must not be 0 (root)")
        seccomp = (security.get("seccompProfile") or {}).get("type")
        pod_seccomp = (pod_context.get("seccompProfile") or {}).get("type")
        if seccomp is not None and seccomp not in _ALLOWED_SECCOMP:
            yield violation(f"{where}.seccompProfile.type", f"{seccomp} is not allowed (RuntimeDefault or Localhost)")
        elif seccomp is None and pod_seccomp not in _ALLOWED_SECCOMP:
            yield violation(
                f"{where}.seccompProfile.type",
                "must be RuntimeDefault or Localhost (here or in the pod's securityContext)",
            )
        yield from (violation(f"{where}.{f}", m) for f, m in _shared_context_problems(security))
        for index, port in enumerate(container.spec.get("ports") or []):
            if port.get("hostPort"):
                yield violation(f"{container.path}.ports[{index}].hostPort", "must not be set")


def _pod_level_problems(template: PodTemplate) -> Iterator[tuple[str, str]]:
    spec, path = template.spec, template.path
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field) is True:
            yield f"{path}.{field}", "must not be true"
    for index, volume in enumerate(spec.get("volumes") or []):
        kinds = sorted(set(volume) - {"name"})
        for kind in kinds:
            if kind not in _ALLOWED_VOLUME_TYPES:
                yield f"{path}.volumes[{index}].{kind}", f"volume type {kind} is not allowed"
    pod_context = spec.get("securityContext") or {}
    where = f"{path}.securityContext"
    if pod_context.get("runAsNonRoot") is False:
        yield f"{where}.runAsNonRoot", "must not be false"
    if pod_context.get("runAsUser") == 0:
        yield f"{where}.runAsUser", "must not be 0 (root)"
    seccomp = (pod_context.get("seccompProfile") or {}).get("type")
    if seccomp is not None and seccomp not in _ALLOWED_SECCOMP:
        yield f"{where}.seccompProfile.type", f"{seccomp} is not allowed (RuntimeDefault or Localhost)"
    for index, sysctl in enumerate(pod_context.get("sysctls") or []):
        if sysctl.get("name") not in _SAFE_SYSCTLS:
            yield f"{where}.sysctls[{index}].name", f"{sysctl.get('name')} is not a safe sysctl"
    yield from ((f"{where}.{f}", m) for f, m in _shared_context_problems(pod_context))


def _shared_context_problems(security: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Checks that read the same at pod and at container level."""
    if (security.get("windowsOptions") or {}).get("hostProcess") is True:
        yield "windowsOptions.hostProcess", "must not be true"
    selinux = security.get("seLinuxOptions") or {}
    if selinux.get("type", "") not in _ALLOWED_SELINUX_TYPES:
        yield "seLinuxOptions.type", f"{selinux['type']} is not allowed"
    for field in ("user", "role"):
        if selinux.get(field):
            yield f"seLinuxOptions.{field}", "must not be set"
    if security.get("procMount") not in (None, "Default"):
        yield "procMount", "must be Default"
    apparmor = (security.get("appArmorProfile") or {}).get("type")
    if apparmor is not None and apparmor not in _ALLOWED_APPARMOR:
        yield "appArmorProfile.type", f"{apparmor} is not allowed (RuntimeDefault or Localhost)"


def _apparmor_annotation_problems(obj: Mapping[str, Any], template: PodTemplate) -> Iterator[tuple[str, str]]:
    """The legacy per-container AppArmor annotations on the pod template."""
    if obj.get("kind") == "Pod":
        annotations, prefix = (obj.get("metadata") or {}).get("annotations") or {}, "metadata.annotations"
    else:
        template_path = template.path.rsplit(".spec", 1)[0]
        annotations = _dig(obj, template_path.split(".") + ["metadata", "annotations"]) or {}
        prefix = f"{template_path}.metadata.annotations"
    for key, value in annotations.items():
        if key.startswith("container.apparmor.security.beta.kubernetes.io/"):
            if value != "runtime/default" and not str(value).startswith("localhost/"):
                yield f"{prefix}[{key}]", f"{value} is not allowed (runtime/default or localhost/*)"


def _dig(obj: Mapping[str, Any], keys: list[str]) -> Any:
    node: Any = obj
    for key in keys:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def check_read_only_root_filesystem(obj: Mapping[str, Any], context: PolicyContext) -> Iterator[Violation]:
    """Every container mounts its root filesystem read-only (writable paths come from volumes)."""
    template = pod_template_of(obj)
    if template is None:
        return
    for container in containers(template, ("initContainers", "containers")):
        if (container.spec.get("securityContext") or {}).get("readOnlyRootFilesystem") is not True:
            yield Violation(
                READ_ONLY_ROOT,
                object_ref(obj),
                f"{container.path}.securityContext.readOnlyRootFilesystem",
                "must be true",
            )
