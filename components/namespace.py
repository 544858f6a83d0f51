"""The stack's namespace, created with Pod Security Admission enforcing the "restricted" profile."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from conventions import MANAGED_BY, MANAGED_BY_LABEL, PART_OF, PART_OF_LABEL

PSA_LEVEL = "restricted"


def namespace_labels(name: str) -> dict[str, str]:
    """Labels of a created namespace: PSA enforce/audit/warn at `restricted`, plus the platform's labels."""
    return {
        "kubernetes.io/metadata.name": name,
        "pod-security.kubernetes.io/enforce": PSA_LEVEL,
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/audit": PSA_LEVEL,
        "pod-security.kubernetes.io/warn": PSA_LEVEL,
        PART_OF_LABEL: PART_OF,
        MANAGED_BY_LABEL: MANAGED_BY,
    }


def create_namespace(name: str, opts: pulumi.ResourceOptions | None = None) -> k8s.core.v1.Namespace:
    """A Namespace named `name` (explicit name: the in-cluster endpoints depend on it)."""
    return k8s.core.v1.Namespace(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, labels=namespace_labels(name)),
        opts=opts,
    )
