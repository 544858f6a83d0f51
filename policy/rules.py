"""The rule book: every rule once, with its name and scope, and `evaluate` to run them all.

An object rule judges one Kubernetes object on its own (the CrossGuard pack runs it per resource); a stack rule
needs the whole set of objects (a Service and the pods it selects), and the pack runs it once per stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Literal

from conventions import PRODUCTION_MIN_REPLICAS
from policy import containers, images, label_rules, pod_security, scaling, services
from policy.violation import PolicyContext, Violation

ObjectCheck = Callable[[dict[str, Any], PolicyContext], Iterable[Violation]]
StackCheck = Callable[[list[dict[str, Any]], PolicyContext], Iterable[Violation]]


@dataclass(frozen=True)
class Rule:
    """One rule: a unique name (the CrossGuard policy name), what it demands, and the function that checks it."""

    name: str
    description: str
    scope: Literal["object", "stack"]
    check: ObjectCheck | StackCheck


RULES: tuple[Rule, ...] = (
    Rule(pod_security.POD_SECURITY, "Pods meet the Pod Security Standards 'restricted' profile.",
         "object", pod_security.check_pod_security),
    Rule(pod_security.READ_ONLY_ROOT, "Containers run with a read-only root filesystem.",
         "object", pod_security.check_read_only_root_filesystem),
    Rule(containers.RESOURCES, "Containers request CPU and memory and set a memory limit.",
         "object", containers.check_resources),
    Rule(containers.PROBES, "Long-running containers have readiness and liveness probes.",
         "object", containers.check_probes),
    Rule(images.IMAGE_TAG, "Images are never :latest or untagged.",
         "object", images.check_image_tag),
    Rule(images.IMAGE_DIGEST, "Outside development, images are pinned by sha256 digest.",
         "object", images.check_image_digest),
    Rule(scaling.HPA_BOUNDS, f"HPA minReplicas <= maxReplicas, and >= {PRODUCTION_MIN_REPLICAS} in production.",
         "object", scaling.check_hpa_bounds),
    Rule(scaling.PDB_DRAIN, "PodDisruptionBudgets never block node drains.",
         "stack", scaling.check_pdb_allows_drain),
    Rule(services.SERVICE_SELECTOR, "Service selectors match the pods of some workload.",
         "stack", services.check_service_selectors),
    Rule(services.NO_LOAD_BALANCER, "No LoadBalancer Service unless the stack allows it.",
         "object", services.check_no_load_balancer),
    Rule(label_rules.RECOMMENDED_LABELS, "Objects carry the recommended app.kubernetes.io/* labels.",
         "object", label_rules.check_recommended_labels),
)


def evaluate(objects: list[dict[str, Any]], context: PolicyContext) -> list[Violation]:
    """Every violation of every rule by these objects, in rule order, then object order."""
    found: list[Violation] = []
    for rule in RULES:
        if rule.scope == "stack":
            found.extend(rule.check(objects, context))
        else:
            for obj in objects:
                found.extend(rule.check(obj, context))
    return found
