"""Services: their selectors reach pods, and none is exposed through a cloud load balancer unless allowed."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from conventions import PROJECT
from policy.violation import PolicyContext, Violation, object_ref
from policy.workloads import namespace_of, pod_template_of, selector_matches

SERVICE_SELECTOR = "service-selector-matches-pods"
NO_LOAD_BALANCER = "no-load-balancer"


def check_service_selectors(objects: Sequence[Mapping[str, Any]], context: PolicyContext) -> Iterator[Violation]:
    """Every Service selects the pods of at least one workload in its namespace; a selector that matches
    nothing is a Service with no endpoints, which fails silently at request time."""
    templates = [
        (namespace_of(obj), template.labels) for obj in objects if (template := pod_template_of(obj)) is not None
    ]
    for service in objects:
        if service.get("kind") != "Service":
            continue
        spec = service.get("spec") or {}
        if spec.get("type") == "ExternalName":
            continue
        selector = spec.get("selector")
        if not selector:
            yield Violation(SERVICE_SELECTOR, object_ref(service), "spec.selector", "must be set")
            continue
        namespace = namespace_of(service)
        if not any(ns == namespace and selector_matches(selector, labels) for ns, labels in templates):
            pairs = ", ".join(f"{key}={value}" for key, value in sorted(selector.items()))
            yield Violation(
                SERVICE_SELECTOR, object_ref(service), "spec.selector", f"{pairs} matches no pod template in the stack"
            )


def check_no_load_balancer(obj: Mapping[str, Any], context: PolicyContext) -> Iterator[Violation]:
    """A LoadBalancer Service opens a public endpoint (and a bill): only where the stack sets
    `allowLoadBalancer: true`."""
    if obj.get("kind") != "Service" or context.allow_load_balancer:
        return
    if (obj.get("spec") or {}).get("type") == "LoadBalancer":
        yield Violation(
            NO_LOAD_BALANCER,
            object_ref(obj),
            "spec.type",
            f"LoadBalancer is not allowed in this stack (set {PROJECT}:allowLoadBalancer to allow it)",
        )
