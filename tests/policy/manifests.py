"""Kubernetes objects that pass every rule, built fresh for each test so a test can break exactly one thing."""

from __future__ import annotations

import copy
from typing import Any

NAMESPACE = "ml-prod"
DIGEST = "sha256:" + "ab" * 32
IMAGE = f"registry.example.com/models/breast-cancer:1.2.0@{DIGEST}"

LABELS = {
    "app.kubernetes.io/name": "breast-cancer",
    "app.kubernetes.io/instance": "breast-cancer",
    "app.kubernetes.io/version": "1.2.0",
    "app.kubernetes.io/component": "model-server",
    "app.kubernetes.io/part-of": "ml-platform",
    "app.kubernetes.io/managed-by": "pulumi",
}
SELECTOR = {"app.kubernetes.io/name": "breast-cancer", "app.kubernetes.io/instance": "breast-cancer"}


def _metadata(name: str = "breast-cancer") -> dict[str, Any]:
    return {"name": name, "namespace": NAMESPACE, "labels": dict(LABELS)}


def namespace() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": NAMESPACE, "labels": {"app.kubernetes.io/managed-by": "pulumi"}},
    }


def deployment() -> dict[str, Any]:
    container = {
        "name": "model",
        "image": IMAGE,
        "ports": [{"name": "http", "containerPort": 8080}],
        "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
        "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": "http"}},
        "livenessProbe": {"httpGet": {"path": "/v2/health/live", "port": "http"}},
        "startupProbe": {"httpGet": {"path": "/v2/health/ready", "port": "http"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(),
        "spec": {
            "selector": {"matchLabels": dict(SELECTOR)},
            "template": {
                "metadata": {"labels": dict(LABELS)},
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "runAsGroup": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }


def service() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(),
        "spec": {"type": "ClusterIP", "selector": dict(SELECTOR), "ports": [{"port": 80, "targetPort": "http"}]},
    }


def hpa(min_replicas: int = 3, max_replicas: int = 6) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "breast-cancer"},
            "minReplicas": min_replicas,
            "maxReplicas": max_replicas,
        },
    }


def pdb(**budget: Any) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(),
        "spec": {"selector": {"matchLabels": dict(SELECTOR)}, **(budget or {"maxUnavailable": 1})},
    }


def stack() -> list[dict[str, Any]]:
    """A whole model's objects, as the program creates them."""
    return [namespace(), deployment(), service(), hpa(), pdb()]


def container_of(obj: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return obj["spec"]["template"]["spec"]["containers"][index]


def pod_spec_of(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"]["template"]["spec"]


def clone(obj: Any) -> Any:
    return copy.deepcopy(obj)
