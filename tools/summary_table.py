"""The summary table `make render` prints: one row per Deployment, read from the rendered objects.

It is printed before the objects are validated, so it reads them defensively: a missing field shows as `?`
and is reported by the schema check, not as a crash here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from components.model_delivery import COPIER_CONTAINER, VOLUME_NAME
from conventions import NAME_LABEL, STABLE, TRACK_LABEL, VERSION_LABEL

HEADER = ("MODEL", "VERSION", "IMAGE", "MODEL IMAGE", "REPLICAS", "CPU", "MEMORY")
# One Deployment's cells, in HEADER's order.
Row = tuple[str, str, str, str, str, str, str]


def _get(obj: Any, *path: Any) -> Any:
    """``obj[path[0]][path[1]]...``, or None where any step is missing."""
    for step in path:
        try:
            obj = obj[step]
        except (KeyError, IndexError, TypeError):
            return None
    return obj


def _hpa_bounds(objects: Iterable[Mapping[str, Any]]) -> dict[tuple[Any, Any], str]:
    """(namespace, Deployment name) -> "min-max" of the HPA that scales it."""
    bounds = {}
    for hpa in objects:
        if hpa.get("kind") != "HorizontalPodAutoscaler" or _get(hpa, "spec", "scaleTargetRef", "kind") != "Deployment":
            continue
        target = (_get(hpa, "metadata", "namespace"), _get(hpa, "spec", "scaleTargetRef", "name"))
        bounds[target] = f"{_get(hpa, 'spec', 'minReplicas') or 1}-{_get(hpa, 'spec', 'maxReplicas') or '?'}"
    return bounds


def _model_image(pod: Mapping[str, Any]) -> str:
    """The model image a pod gets its model from: its image volume, or its copier init container; `-` for none
    (a server image that carries its model)."""
    for volume in _get(pod, "volumes") or []:
        if _get(volume, "name") == VOLUME_NAME and _get(volume, "image", "reference"):
            return str(volume["image"]["reference"])
    for container in _get(pod, "initContainers") or []:
        if _get(container, "name") == COPIER_CONTAINER:
            return str(container.get("image", "?"))
    return "-"


def summary_rows(objects: Sequence[Mapping[str, Any]]) -> list[Row]:
    """One row per Deployment: model, version, image (the server), model image, replicas, cpu, memory.

    Replicas are the bounds of the HPA that scales the Deployment (its `spec.replicas` when none does); a
    second track of a model (a canary) is shown as `model (track)`.
    """
    bounds = _hpa_bounds(objects)
    rows: list[Row] = []
    for deployment in (obj for obj in objects if obj.get("kind") == "Deployment"):
        name = _get(deployment, "metadata", "name") or "?"
        labels = _get(deployment, "metadata", "labels") or {}
        model = labels.get(NAME_LABEL, name)
        track = labels.get(TRACK_LABEL)
        container = _get(deployment, "spec", "template", "spec", "containers", 0) or {}
        requests = _get(container, "resources", "requests") or {}
        replicas = bounds.get((_get(deployment, "metadata", "namespace"), name))
        rows.append(
            (
                f"{model} ({track})" if track and track != STABLE else str(model),
                str(labels.get(VERSION_LABEL, "?")),
                str(container.get("image", "?")),
                _model_image(_get(deployment, "spec", "template", "spec") or {}),
                replicas or str(_get(deployment, "spec", "replicas") or 1),
                str(requests.get("cpu", "-")),
                str(requests.get("memory", "-")),
            )
        )
    return rows


def format_table(rows: Iterable[tuple[str, ...]]) -> str:
    """A plain aligned text table with the header."""
    rows = [HEADER, *rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)
