"""What every container must declare: resource requests, a memory limit, health probes, and read-only handoffs."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from policy.violation import PolicyContext, Violation, object_ref
from policy.workloads import LONG_RUNNING_KINDS, containers, pod_template_of

RESOURCES = "resource-requests-and-memory-limit"
PROBES = "probes"
HANDOFF_READ_ONLY = "handoff-volumes-read-only"


def check_resources(obj: Mapping[str, Any], context: PolicyContext) -> Iterator[Violation]:
    """Every container requests CPU and memory (so the scheduler can place it) and caps memory (so one pod
    cannot starve its node)."""
    template = pod_template_of(obj)
    if template is None:
        return
    for container in containers(template, ("initContainers", "containers")):
        resources = container.spec.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        where = f"{container.path}.resources"
        for resource in ("cpu", "memory"):
            if not requests.get(resource):
                yield Violation(RESOURCES, object_ref(obj), f"{where}.requests.{resource}", "must be set")
        if not limits.get("memory"):
            yield Violation(RESOURCES, object_ref(obj), f"{where}.limits.memory", "must be set")


def check_probes(obj: Mapping[str, Any], context: PolicyContext) -> Iterator[Violation]:
    """Every long-running container has a readiness probe (traffic only to ready pods) and a liveness probe
    (a stuck process is restarted)."""
    if obj.get("kind") not in LONG_RUNNING_KINDS:
        return
    template = pod_template_of(obj)
    if template is None:
        return
    for container in containers(template, ("containers",)):
        for probe in ("readinessProbe", "livenessProbe"):
            if not container.spec.get(probe):
                yield Violation(PROBES, object_ref(obj), f"{container.path}.{probe}", "must be set")


def check_handoff_volumes_read_only(obj: Mapping[str, Any], context: PolicyContext) -> Iterator[Violation]:
    """A volume an init container fills (a model copied into an emptyDir) is mounted read-only by the pod's
    long-running containers, and so is an image volume: what the server loads is what was delivered and checked,
    never something it, or whoever takes it over, wrote since."""
    template = pod_template_of(obj)
    if template is None:
        return
    image_volumes = {v.get("name") for v in template.spec.get("volumes") or [] if (v or {}).get("image")}
    filled = {
        mount.get("name")
        for init in containers(template, ("initContainers",))
        for mount in init.spec.get("volumeMounts") or []
    }
    for container in containers(template, ("containers",)):
        for index, mount in enumerate(container.spec.get("volumeMounts") or []):
            if mount.get("name") in filled | image_volumes and mount.get("readOnly") is not True:
                yield Violation(
                    HANDOFF_READ_ONLY,
                    object_ref(obj),
                    f"{container.path}.volumeMounts[{index}].readOnly",
                    f"must be true: volume {mount.get('name')!r} is "
                    + ("an image volume" if mount.get("name") in image_volumes else "filled by an init container"),
                )
