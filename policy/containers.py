"""What every container must declare: resource requests, a memory limit, and health probes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from policy.violation import PolicyContext, Violation, object_ref
from policy.workloads import LONG_RUNNING_KINDS, containers, pod_template_of

RESOURCES = "resource-requests-and-memory-limit"
PROBES = "probes"


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
