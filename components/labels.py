"""The labels and selectors of a model's objects, built from the conventions in `conventions.py`.

Selectors use only labels that never change for the life of a Deployment (a Deployment's selector is immutable):
the model name and the track. The version label changes with every release, so it is never part of a selector.
"""

from __future__ import annotations

from conventions import (
    COMPONENT,
    COMPONENT_LABEL,
    INSTANCE_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    NAME_LABEL,
    PART_OF,
    PART_OF_LABEL,
    STABLE,
    TRACK_LABEL,
    VERSION_LABEL,
)


def workload_name(model: str, track: str) -> str:
    """The Deployment/HPA/PDB name of a track: the model name for stable, `<model>-canary` for the canary."""
    return model if track == STABLE else f"{model}-{track}"


def model_selector(model: str) -> dict[str, str]:
    """Selects every pod of a model, stable and canary: the Service and the NetworkPolicy use it."""
    return {NAME_LABEL: model, INSTANCE_LABEL: model}


def track_selector(model: str, track: str = STABLE) -> dict[str, str]:
    """Selects the pods of one track of a model: a Deployment, its PDB and its topology spread use it."""
    return {**model_selector(model), TRACK_LABEL: track}


def standard_labels(model: str, version: str, track: str | None = None) -> dict[str, str]:
    """The recommended labels for an object of `model` at `version` (with the track for per-track objects)."""
    labels = {
        **model_selector(model),
        VERSION_LABEL: version,
        COMPONENT_LABEL: COMPONENT,
        PART_OF_LABEL: PART_OF,
        MANAGED_BY_LABEL: MANAGED_BY,
    }
    if track is not None:
        labels[TRACK_LABEL] = track
    return labels
