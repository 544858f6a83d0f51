"""Replica bounds for a stable and a canary track that share one Service.

The Service balances over ready pods, so the canary's share of requests is its share of ready pods. Each track
gets its own HPA; its bounds are the model's bounds scaled by the weight, with a floor of one pod per track (two in
production, so a node drain never takes a whole track away).
"""

from __future__ import annotations

from dataclasses import dataclass

from components.config import Replicas


@dataclass(frozen=True)
class TrackReplicas:
    """HPA bounds for one track."""

    min: int
    max: int


def split_replicas(total: Replicas, weight: int, *, floor: int = 1) -> tuple[TrackReplicas, TrackReplicas]:
    """(stable, canary) bounds for a canary taking `weight` percent of the pods.

    The sum of the minimums is at least `total.min`; each track keeps at least `floor` pods, so with few replicas
    the canary's real share is coarser than `weight` (1 pod of 3 is 33%, whatever the weight).
    """
    if not 1 <= weight <= 99:
        raise ValueError(f"weight must be between 1 and 99, got {weight}")
    canary_min = max(floor, round(total.min * weight / 100))
    stable_min = max(floor, total.min - canary_min)
    canary_max = max(canary_min, round(total.max * weight / 100))
    stable_max = max(stable_min, total.max - canary_max)
    return TrackReplicas(stable_min, stable_max), TrackReplicas(canary_min, canary_max)


def effective_weight(stable: TrackReplicas, canary: TrackReplicas) -> float:
    """The canary's share of pods (percent) when both tracks sit at their minimum."""
    return 100 * canary.min / (stable.min + canary.min)
