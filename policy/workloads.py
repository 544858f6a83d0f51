"""Where the pods are: pod templates inside workload objects, and the containers inside pod specs."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# Workloads whose pod template sits at spec.template.
_TEMPLATED_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"}
# Workloads whose pods are meant to keep running (and so need probes).
LONG_RUNNING_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Pod"}
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


@dataclass(frozen=True)
class PodTemplate:
    """A pod spec found in an object, with the path that leads to it (`spec.template.spec`)."""

    path: str
    spec: Mapping[str, Any]
    labels: Mapping[str, str]


@dataclass(frozen=True)
class Container:
    """One container of a pod spec, with its path (`spec.template.spec.containers[0]`)."""

    path: str
    list_name: str
    spec: Mapping[str, Any]


def pod_template_of(obj: Mapping[str, Any]) -> PodTemplate | None:
    """The pod template of a workload object, or None when the object runs no pods."""
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "Pod":
        return PodTemplate("spec", spec, (obj.get("metadata") or {}).get("labels") or {})
    if kind == "CronJob":
        template = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
        prefix = "spec.jobTemplate.spec.template"
    elif kind in _TEMPLATED_KINDS:
        template = spec.get("template") or {}
        prefix = "spec.template"
    else:
        return None
    labels = (template.get("metadata") or {}).get("labels") or {}
    return PodTemplate(f"{prefix}.spec", template.get("spec") or {}, labels)


def containers(template: PodTemplate, lists: tuple[str, ...] = CONTAINER_LISTS) -> Iterator[Container]:
    """Every container of the pod spec in the named lists, in order."""
    for list_name in lists:
        for index, container in enumerate(template.spec.get(list_name) or []):
            yield Container(f"{template.path}.{list_name}[{index}]", list_name, container or {})


def namespace_of(obj: Mapping[str, Any]) -> str | None:
    """The object's namespace as written (None when the provider fills in the default)."""
    return (obj.get("metadata") or {}).get("namespace")


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Whether a label selector (matchLabels/matchExpressions, or a Service's plain map) selects these labels.

    An empty or missing selector matches nothing here: for the objects we judge, that is always a mistake.
    """
    if not selector:
        return False
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        return all(labels.get(key) == value for key, value in selector.items())
    if not all(labels.get(key) == value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return bool(selector.get("matchLabels") or selector.get("matchExpressions"))
