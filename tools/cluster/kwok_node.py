"""A kwok node: the scheduler places pods on it and kwok marks them running and ready, without running them.

For machines where no real node can run (see real_node.py). kwok only simulates the pods' lifecycle through the API
(its "fast" stages: a node is Ready, a scheduled pod is Running and Ready at once), so everything up to the pods
is real: admission, the Deployment and ReplicaSet controllers, the scheduler, the HPA's objects.
"""

from __future__ import annotations

from pathlib import Path

from tools.cluster.api import Api
from tools.cluster.layout import HOST, NODE_NAME, TOOLCHAIN_BIN, Layout, Ports, binary
from tools.cluster.processes import ClusterError, port_is_free, running_pid, start, wait_until

KWOK = "kwok"
# The default stages kwok's module ships (kustomize/stage/{node,pod}/fast); `make toolchain` copies them here.
STAGES_DIR = TOOLCHAIN_BIN.parent / "share" / "kwok" / "stages"
MANAGED = "kwok.x-k8s.io/node=fake"


def node_object(name: str = NODE_NAME) -> dict:
    """The Node kwok manages; labelled like a cloud node so that the prod stack's zone and host spread apply."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake"},
            "labels": {
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/os": "linux",
                "kubernetes.io/hostname": name,
                "topology.kubernetes.io/zone": "local-a",
                "type": "kwok",
            },
        },
        "spec": {},
        # Room for the prod stack's three 1-CPU pods and a canary beside them.
        "status": {
            "allocatable": {"cpu": "32", "memory": "128Gi", "pods": "110"},
            "capacity": {"cpu": "32", "memory": "128Gi", "pods": "110"},
            "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux", "kubeletVersion": "fake"},
        },
    }


def _stage_config(layout: Layout) -> Path:
    stages = sorted(STAGES_DIR.glob("*.yaml"))
    if not stages:
        raise ClusterError(f"kwok's stage configs are missing under {STAGES_DIR} (run `make toolchain`)")
    config = layout.base / "kwok.yaml"
    config.write_text("\n---\n".join(p.read_text().strip() for p in stages) + "\n")
    return config


def start_kwok_node(layout: Layout, ports: Ports, api: Api) -> None:
    """Starts kwok (if not running), registers the node and waits until it is Ready."""
    if running_pid(layout, KWOK) is None:
        if not port_is_free(HOST, ports.kwok):
            raise ClusterError(f"kwok: port {HOST}:{ports.kwok} is taken by another process")
        start(
            layout,
            KWOK,
            [
                str(binary(KWOK)),
                f"--kubeconfig={layout.kubeconfig}",
                f"--config={_stage_config(layout)}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={MANAGED}",
                f"--server-address={HOST}:{ports.kwok}",
                # Pod IPs kwok hands out; nothing listens there and nothing is sent there.
                "--cidr=10.244.0.0/24",
                f"--node-ip={HOST}",
            ],
        )
    api.create("/api/v1/nodes", node_object())
    wait_until(layout, KWOK, lambda: api.node_ready(NODE_NAME), 60.0, f"node {NODE_NAME}")
