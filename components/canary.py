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

    The maximums add up to exactly `total.max`, so both tracks together never run more pods than the model's budget;
    the minimums add up to at least `total.min`. Each track keeps at least `floor` pods, so with few replicas the
    canary's real share is coarser than `weight` (1 pod of 3 is 33%, whatever the weight), and `total.max` must
    leave room for two tracks of `floor` pods (the stack config refuses less).
    """
    if not 1 <= weight <= 99:
        raise ValueError(f"weight must be between 1 and 99, got {weight}")
    if total.max < 2 * floor:
        raise ValueError(f"two tracks of at least {floor} pods need replicas.max >= {2 * floor}, got {total.max}")
    canary_max = _clamp(round(total.max * weight / 100), floor, total.max - floor)
    stable_max = total.max - canary_max
    canary_min = _clamp(round(total.min * weight / 100), floor, canary_max)
    stable_min = _clamp(total.min - canary_min, floor, stable_max)
    return TrackReplicas(stable_min, stable_max), TrackReplicas(canary_min, canary_max)


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(value, high))


def effective_weight(stable: TrackReplicas, canary: TrackReplicas) -> float:
    """The canary's share of pods (percent) when both tracks sit at their minimum."""
    return 100 * canary.min / (stable.min + canary.min)
