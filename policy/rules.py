"""The rule book: every rule once, with its name and scope, and `evaluate` to run them all.

An object rule judges one Kubernetes object on its own (the CrossGuard pack runs it per resource); a stack rule
needs the whole set of objects (a Service and the pods it selects), and the pack runs it once per stack.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from conventions import PRODUCTION_MIN_REPLICAS
from policy import containers, images, label_rules, pod_security, scaling, services
from policy.violation import PolicyContext, Violation

ObjectCheck = Callable[[Mapping[str, Any], PolicyContext], Iterable[Violation]]
StackCheck = Callable[[Sequence[Mapping[str, Any]], PolicyContext], Iterable[Violation]]


@dataclass(frozen=True)
class ObjectRule:
    """A rule over one object: a unique name (the CrossGuard policy name), what it demands, and its check."""

    scope: ClassVar[Literal["object"]] = "object"
    name: str
    description: str
    check: ObjectCheck


@dataclass(frozen=True)
class StackRule:
    """A rule over every object of the stack: a unique name, what it demands, and its check."""

    scope: ClassVar[Literal["stack"]] = "stack"
    name: str
    description: str
    check: StackCheck


# One rule; `scope` (or isinstance) tells which kind of check it carries.
Rule = ObjectRule | StackRule


RULES: tuple[Rule, ...] = (
    ObjectRule(
        pod_security.POD_SECURITY,
        "Pods meet the Pod Security Standards 'restricted' profile.",
        pod_security.check_pod_security,
    ),
    ObjectRule(
        pod_security.READ_ONLY_ROOT,
        "Containers run with a read-only root filesystem.",
        pod_security.check_read_only_root_filesystem,
    ),
    ObjectRule(
        containers.RESOURCES,
        "Containers request CPU and memory and set a memory limit.",
        containers.check_resources,
    ),
    ObjectRule(
        containers.PROBES,
        "Long-running containers have readiness and liveness probes.",
        containers.check_probes,
    ),
    ObjectRule(
        containers.HANDOFF_READ_ONLY,
        "Volumes an init container fills, and image volumes, are mounted read-only by the serving containers.",
        containers.check_handoff_volumes_read_only,
    ),
    ObjectRule(images.IMAGE_TAG, "Images are never :latest or untagged.", images.check_image_tag),
    ObjectRule(
        images.IMAGE_DIGEST,
        "Outside development, images are pinned by sha256 digest.",
        images.check_image_digest,
    ),
    ObjectRule(
        scaling.HPA_BOUNDS,
        f"HPA minReplicas <= maxReplicas, and >= {PRODUCTION_MIN_REPLICAS} in production.",
        scaling.check_hpa_bounds,
    ),
    StackRule(scaling.PDB_DRAIN, "PodDisruptionBudgets never block node drains.", scaling.check_pdb_allows_drain),
    StackRule(
        services.SERVICE_SELECTOR,
        "Service selectors match the pods of some workload.",
        services.check_service_selectors,
    ),
    ObjectRule(
        services.NO_LOAD_BALANCER,
        "No LoadBalancer Service unless the stack allows it.",
        services.check_no_load_balancer,
    ),
    ObjectRule(
        label_rules.RECOMMENDED_LABELS,
        "Objects carry the recommended app.kubernetes.io/* labels.",
        label_rules.check_recommended_labels,
    ),
)


def evaluate(objects: Sequence[Mapping[str, Any]], context: PolicyContext) -> list[Violation]:
    """Every violation of every rule by these objects, in rule order, then object order."""
    found: list[Violation] = []
    for rule in RULES:
        if isinstance(rule, StackRule):
            found.extend(rule.check(objects, context))
        else:
            for obj in objects:
                found.extend(rule.check(obj, context))
    return found
