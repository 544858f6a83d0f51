"""A real node: containerd (CRI), the kubelet, CNI, kube-proxy and metrics-server (to be written, see issue 12)."""

from __future__ import annotations

from tools.cluster.api import Api
from tools.cluster.control_plane import Pki
from tools.cluster.layout import Layout, Ports
from tools.cluster.processes import ClusterError

# Daemon names, in the order they are stopped.
COMPONENTS: tuple[str, ...] = ()


def machine_allows_real_node() -> tuple[bool, str]:
    """Whether a real node can run on this machine, and one line saying why (or why not)."""
    return False, "the real node is not built yet"


def start_real_node(layout: Layout, ports: Ports, api: Api, certs: Pki) -> None:
    raise ClusterError("the real node is not built yet; use NODE=kwok")


def stop_real_node(layout: Layout) -> list[str]:
    """Stops the node's daemons by pid and removes its containers, mounts, bridge and iptables rules."""
    return []
