"""HTTP probes on the model server's health endpoints (startup and readiness: ready; liveness: live)."""

from __future__ import annotations

import pulumi_kubernetes as k8s

from components.config import Probe

# The container port's name: probes and the Service target it by name, so a port change is one edit.
PORT_NAME = "http"


def http_probe(probe: Probe) -> k8s.core.v1.ProbeArgs:
    """A probe that GETs `probe.path` on the serving port."""
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path=probe.path, port=PORT_NAME, scheme="HTTP"),
        initial_delay_seconds=probe.initial_delay_seconds,
        period_seconds=probe.period_seconds,
        timeout_seconds=probe.timeout_seconds,
        failure_threshold=probe.failure_threshold,
        # Kubernetes requires successThreshold 1 for liveness and startup probes; 1 for readiness too.
        success_threshold=1,
    )
