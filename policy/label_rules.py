"""The recommended `app.kubernetes.io/*` labels, so every object can be traced to its model, version and tool.

See https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from conventions import INSTANCE_LABEL, MANAGED_BY_LABEL, NAME_LABEL, VERSION_LABEL
from policy.violation import PolicyContext, Violation, object_ref
from policy.workloads import pod_template_of

RECOMMENDED_LABELS = "recommended-labels"

# On every object that belongs to a model.
OBJECT_LABELS = (NAME_LABEL, INSTANCE_LABEL, VERSION_LABEL, MANAGED_BY_LABEL)
# On pod templates: what dashboards and `kubectl get pods -l` select by.
POD_LABELS = (NAME_LABEL, INSTANCE_LABEL, VERSION_LABEL)
# A Namespace is shared by every model in the stack: it can only say who manages it.
NAMESPACE_LABELS = (MANAGED_BY_LABEL,)


def check_recommended_labels(obj: Mapping[str, Any], context: PolicyContext) -> Iterator[Violation]:
    """The object, and its pod template, carry the recommended labels."""
    required = NAMESPACE_LABELS if obj.get("kind") == "Namespace" else OBJECT_LABELS
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for label in required:
        if not labels.get(label):
            yield Violation(RECOMMENDED_LABELS, object_ref(obj), f"metadata.labels[{label}]", "must be set")
    template = pod_template_of(obj)
    if template is None or obj.get("kind") == "Pod":
        return
    template_labels_path = template.path.rsplit(".spec", 1)[0] + ".metadata.labels"
    for label in POD_LABELS:
        if not template.labels.get(label):
            yield Violation(RECOMMENDED_LABELS, object_ref(obj), f"{template_labels_path}[{label}]", "must be set")
