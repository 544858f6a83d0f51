"""Scaling and disruption: HPA bounds that make sense, and PodDisruptionBudgets that never block node drains."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from conventions import PRODUCTION_MIN_REPLICAS
from policy.violation import PolicyContext, Violation, object_ref
from policy.workloads import namespace_of, pod_template_of, selector_matches

HPA_BOUNDS = "hpa-bounds"
PDB_DRAIN = "pdb-allows-node-drain"


def check_hpa_bounds(obj: Mapping[str, Any], context: PolicyContext) -> Iterator[Violation]:
    """minReplicas <= maxReplicas always; in production minReplicas >= 2, so one pod's loss is not an outage."""
    if obj.get("kind") != "HorizontalPodAutoscaler":
        return
    spec = obj.get("spec") or {}
    minimum, maximum = spec.get("minReplicas", 1), spec.get("maxReplicas")
    if isinstance(maximum, (int, float)) and minimum > maximum:
        yield Violation(
            HPA_BOUNDS,
            object_ref(obj),
            "spec.minReplicas",
            f"minReplicas ({_count(minimum)}) must be <= maxReplicas ({_count(maximum)})",
        )
    if context.is_production and minimum < PRODUCTION_MIN_REPLICAS:
        yield Violation(
            HPA_BOUNDS,
            object_ref(obj),
            "spec.minReplicas",
            f"minReplicas ({_count(minimum)}) must be >= {PRODUCTION_MIN_REPLICAS} in production",
        )


def check_pdb_allows_drain(objects: Sequence[Mapping[str, Any]], context: PolicyContext) -> Iterator[Violation]:
    """A PodDisruptionBudget always lets at least one pod be evicted, even when its workload runs at its
    minimum size; otherwise `kubectl drain` (and every node upgrade) waits forever."""
    for pdb in objects:
        if pdb.get("kind") != "PodDisruptionBudget":
            continue
        spec = pdb.get("spec") or {}
        if "maxUnavailable" in spec:
            if spec["maxUnavailable"] in (0, "0%", "0"):
                yield Violation(
                    PDB_DRAIN,
                    object_ref(pdb),
                    "spec.maxUnavailable",
                    "0 blocks every voluntary eviction (node drains hang)",
                )
            continue
        min_available = spec.get("minAvailable")
        if min_available is None:
            continue
        if min_available == "100%":
            yield Violation(
                PDB_DRAIN,
                object_ref(pdb),
                "spec.minAvailable",
                "100% blocks every voluntary eviction (node drains hang)",
            )
            continue
        for workload, replicas in _selected_workloads(pdb, objects):
            if _allowed_disruptions(min_available, replicas) < 1:
                yield Violation(
                    PDB_DRAIN,
                    object_ref(pdb),
                    "spec.minAvailable",
                    f"{_count(min_available)} leaves no pod to evict when {object_ref(workload)} "
                    f"runs its minimum of {_count(replicas)} replica(s) (node drains hang)",
                )


def _allowed_disruptions(min_available: int | str, replicas: int) -> int:
    if isinstance(min_available, str) and min_available.endswith("%"):
        # The disruption controller rounds a percentage of minAvailable up.
        required = math.ceil(replicas * int(min_available[:-1]) / 100)
    else:
        required = int(min_available)
    return replicas - required


def _selected_workloads(
    pdb: Mapping[str, Any], objects: Sequence[Mapping[str, Any]]
) -> Iterator[tuple[Mapping[str, Any], int]]:
    """The workloads whose pods the PDB selects, each with the fewest replicas it may run."""
    selector = (pdb.get("spec") or {}).get("selector")
    for workload in objects:
        template = pod_template_of(workload)
        if template is None or workload.get("kind") in ("Pod", "Job", "CronJob"):
            continue
        if namespace_of(workload) != namespace_of(pdb) or not selector_matches(selector, template.labels):
            continue
        yield workload, _minimum_replicas(workload, objects)


def _minimum_replicas(workload: Mapping[str, Any], objects: Sequence[Mapping[str, Any]]) -> int:
    """An HPA's minReplicas when one scales the workload, else its spec.replicas (default 1)."""
    name = (workload.get("metadata") or {}).get("name")
    for hpa in objects:
        if hpa.get("kind") != "HorizontalPodAutoscaler" or namespace_of(hpa) != namespace_of(workload):
            continue
        target = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        if target.get("kind") == workload.get("kind") and target.get("name") == name:
            return (hpa.get("spec") or {}).get("minReplicas", 1)
    return (workload.get("spec") or {}).get("replicas", 1)


def _count(value: Any) -> Any:
    """A replica count as people write it: CrossGuard passes numbers as floats (3.0 -> 3)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value
