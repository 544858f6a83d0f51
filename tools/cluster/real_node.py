"""A real node: containerd (CRI), the kubelet, CNI on the project's bridge, kube-proxy and metrics-server.

Pods really run here (the model image pulled from the local registry by digest), probes really probe, Services
really route, and the HPA reads real CPU. The pieces, in start order, each in its module:

    node_network.py    the bridge mlp0 with the node's address 10.88.0.1, and the CNI config (bridge, portmap)
    containerd.py      Debian's containerd as its own instance, with the pause image (pause_image.py)
    kubelet.py         the kubelet, registered as ml-platform-node; Ready about 1 s after it starts
    kube_proxy.py      Service ClusterIPs through iptables
    metrics_server.py  the metrics API, for the HPA and `kubectl top`

Teardown stops the daemons by pid, removes every pod through the CRI, then undoes what outlives them: mounts under
.cluster/, the kubepods cgroups, the shared host folders it created (host_cleanup.py), iptables chains
(iptables_cleanup.py), the bridge and the kernel settings the kubelet changed (node_sysctls.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tools.cluster import (
    containerd,
    host_cleanup,
    iptables_cleanup,
    kube_proxy,
    kubelet,
    metrics_server,
    node_claim,
    node_network,
    node_sysctls,
)
from tools.cluster.api import Api
from tools.cluster.control_plane import APISERVER, Pki
from tools.cluster.layout import HOST, NODE_NAME, Layout, Ports, binary
from tools.cluster.node_layout import CNI_BIN_DIRS, CNI_PLUGINS, NodeLayout
from tools.cluster.processes import ClusterError, running_pid, stop

# Daemon names, in the order they are stopped.
COMPONENTS: tuple[str, ...] = (
    metrics_server.METRICS_SERVER,
    kube_proxy.KUBE_PROXY,
    kubelet.KUBELET,
    containerd.CONTAINERD,
)
# The second node's own daemons (it shares node 1's kube-proxy and metrics-server), in the order they are stopped.
SECOND_NODE = 2
SECOND_NODE_COMPONENTS: tuple[str, ...] = tuple(
    NodeLayout.daemon_of(name, SECOND_NODE) for name in (kubelet.KUBELET, containerd.CONTAINERD)
)
TOOLCHAIN_BINARIES = (kubelet.KUBELET, kube_proxy.KUBE_PROXY, metrics_server.METRICS_SERVER)
HOST_COMMANDS = ("containerd", "ctr", "runc", "ip", "iptables", "iptables-save", "iptables-restore", "gcc")
# The API server must call the kubelet at its InternalIP: its default order tries the node's Hostname address
# first, and looking "ml-platform-node" up would send a DNS query off this machine.
ADDRESS_TYPES_FLAG = "--kubelet-preferred-address-types=InternalIP"


def _cgroups_mounted() -> bool:
    root = Path("/sys/fs/cgroup")
    if (root / "cgroup.controllers").is_file():  # v2
        return True
    return all((root / controller / "cgroup.procs").is_file() for controller in ("cpu", "memory", "pids"))


def _iptables_works() -> bool:
    try:
        return subprocess.run(["iptables", "-w", "5", "-S", "FORWARD"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def machine_allows_real_node() -> tuple[bool, str]:
    """Whether a real node can run on this machine, and one line saying why (or why not)."""
    if not sys.platform.startswith("linux"):
        return False, f"a real node needs Linux, not {sys.platform}"
    if os.geteuid() != 0:
        return False, "a real node needs root (containerd, the kubelet, the bridge and iptables)"
    if not _cgroups_mounted():
        return False, "no cgroup hierarchy (cpu, memory, pids) is mounted under /sys/fs/cgroup"
    missing = [name for name in HOST_COMMANDS if shutil.which(name) is None and containerd.binary(name) is None]
    if missing:
        return False, f"{', '.join(missing)} missing (bash .ci/provision installs them)"
    plugin_dir = next((d for d in CNI_BIN_DIRS if all((d / p).is_file() for p in CNI_PLUGINS)), None)
    if plugin_dir is None:
        return False, "the CNI plugins are missing (bash .ci/provision installs containernetworking-plugins)"
    absent = [name for name in TOOLCHAIN_BINARIES if not binary(name).is_file()]
    if absent:
        return False, f"the toolchain lacks {', '.join(absent)} (run `make toolchain`)"
    if not Path("/proc/sys/net/bridge/bridge-nf-call-iptables").exists():
        return False, "the kernel's br_netfilter is not loaded (modprobe br_netfilter): Services would not route"
    if "overlay" not in Path("/proc/filesystems").read_text():
        return False, "the kernel has no overlay filesystem (modprobe overlay): containerd's snapshotter needs it"
    if not _iptables_works():
        return False, "iptables does not work here (kube-proxy needs it)"
    return True, "root, cgroups, containerd, runc, the CNI plugins and the kubelet are all here"


def _check_apiserver_flags(layout: Layout) -> None:
    pid = running_pid(layout, APISERVER)
    if pid is None:
        raise ClusterError("kube-apiserver is not running")
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    if ADDRESS_TYPES_FLAG not in argv:
        raise ClusterError(
            f"kube-apiserver runs without {ADDRESS_TYPES_FLAG}: it would look the node's name up "
            "in DNS; restart the control plane with it (tools/cluster/control_plane.py)"
        )


def start_real_node(layout: Layout, ports: Ports, api: Api, certs: Pki, claim: node_claim.Claim | None = None) -> None:
    """Starts whatever part of the node is not running, and waits until each piece serves; idempotent.

    First it takes the machine's real-node claim (node_claim.py), cleaning up after a dead owner.
    """
    claim = claim or node_claim.Claim()
    node = NodeLayout(layout)
    server = f"https://{HOST}:{ports.apiserver}"
    _check_apiserver_flags(layout)
    if not node.owner_mark.exists() or claim.owner() != layout.base.resolve():
        note = node_claim.settle(
            claim,
            layout,
            (*COMPONENTS, *SECOND_NODE_COMPONENTS),
            lambda dead: stop_real_node(dead, claim, owned=True),
            node_network.bridge_exists,
        )
        if note:
            print(note)
        node.owner_mark.write_text("This cluster's real node owns the bridge, its iptables chains and mounts.\n")
    host_cleanup.record_absent_host_dirs(node.host_dirs_record)
    node_network.create_bridge(node)
    node_network.write_cni_config(node)
    containerd.start_containerd(node)
    seconds_to_ready = kubelet.start_kubelet(node, server, certs, api)
    if seconds_to_ready is not None:
        print(f"cluster: node {NODE_NAME} Ready {seconds_to_ready:.1f} s after the kubelet started")
    kube_proxy.start_kube_proxy(node, server, certs)
    metrics_server.start_metrics_server(node, server, certs, api)


def running_nodes(layout: Layout) -> list[NodeLayout]:
    """The real nodes whose kubelet runs, node 1 first."""
    nodes = [NodeLayout(layout, index) for index in (1, SECOND_NODE)]
    return [node for node in nodes if running_pid(layout, node.daemon(kubelet.KUBELET)) is not None]


def start_second_node(layout: Layout, ports: Ports, api: Api, certs: Pki) -> None:
    """Adds node 2 (its own containerd, kubelet and bridge) to a cluster whose real node runs; idempotent.

    A drain needs somewhere to move pods to. Node 1's kube-proxy and metrics-server serve both nodes: they share
    this host's iptables, and metrics-server asks every node's kubelet at its InternalIP.
    """
    if not NodeLayout(layout).owner_mark.exists() or running_pid(layout, kubelet.KUBELET) is None:
        raise ClusterError("a second node joins a running real node: `make cluster NODE=real` first")
    node = NodeLayout(layout, SECOND_NODE)
    node.base.mkdir(parents=True, exist_ok=True)
    node_network.create_bridge(node)
    node_network.write_cni_config(node)
    containerd.start_containerd(node)
    seconds_to_ready = kubelet.start_kubelet(node, f"https://{HOST}:{ports.apiserver}", certs, api)
    if seconds_to_ready is not None:
        print(f"cluster: node {node.name} Ready {seconds_to_ready:.1f} s after the kubelet started")


def stop_second_node(layout: Layout, api: Api | None = None) -> list[str]:
    """Stops node 2 and undoes its host state (pods, mounts, cgroups, bridge); deletes its Node object if `api`."""
    node = NodeLayout(layout, SECOND_NODE)
    if not node.base.exists():
        return []
    stopped = [node.daemon(kubelet.KUBELET)] if stop(layout, node.daemon(kubelet.KUBELET)) else []
    containerd.remove_everything(node)
    if containerd.stop_containerd(node):
        stopped.append(node.daemon(containerd.CONTAINERD))
    problems = [f"still mounted: {line}" for line in host_cleanup.unmount_under(node.base)]
    problems += [f"cgroup left: {line}" for line in host_cleanup.remove_kubepods_cgroups(tree_name=node.name)]
    if node_network.delete_bridge(node):
        stopped.append(f"bridge {node.bridge}")
    for problem in problems:
        print(f"cluster: {node.name} teardown: {problem}", file=sys.stderr)
    if api is not None:
        api.delete_node(node.name)
    shutil.rmtree(node.base, ignore_errors=True)
    return stopped


def stop_real_node(layout: Layout, claim: node_claim.Claim | None = None, owned: bool = False) -> list[str]:
    """Stops the node's daemons by pid and removes its containers, mounts, bridge and iptables rules.

    The host's state is undone only by the cluster that holds the machine's claim (or, `owned`, for a dead owner
    that start_real_node cleans up after). Returns what it stopped or removed. What could not be undone is
    printed, one line each, and does not stop the teardown: the control plane still has to go.
    """
    claim = claim or node_claim.Claim()
    node = NodeLayout(layout)
    stopped = stop_second_node(layout)
    stopped += [name for name in COMPONENTS[:-1] if stop(layout, name)]
    holder = claim.owner()
    if not owned and (not node.owner_mark.exists() or holder not in (None, layout.base.resolve())):
        # No real node here (a kwok cluster, or none), or its host state was taken over by another clone's
        # cluster after this one died: the bridge and chains, if any, are another cluster's.
        node.owner_mark.unlink(missing_ok=True)
        if containerd.stop_containerd(node):
            stopped.append(containerd.CONTAINERD)
        return stopped
    # Pods go through the CRI while containerd still runs: that is what runs each sandbox's CNI DEL.
    containerd.remove_everything(node)
    if containerd.stop_containerd(node):
        stopped.append(containerd.CONTAINERD)
    problems = [f"still mounted: {line}" for line in host_cleanup.unmount_under(layout.base)]
    problems += [f"cgroup left: {line}" for line in host_cleanup.remove_kubepods_cgroups()]
    problems += [f"folder left: {line}" for line in host_cleanup.remove_created_host_dirs(node.host_dirs_record)]
    if iptables_cleanup.leftover_chains():
        error = kube_proxy.cleanup()
        if error:
            problems.append(error)
    problems += iptables_cleanup.remove_node_rules()
    if node_network.delete_bridge(node):
        stopped.append(f"bridge {node.bridge}")
    problems += [f"could not restore {name}" for name in node_sysctls.restore(node.sysctl_snapshot)]
    for problem in problems:
        print(f"cluster: real node teardown: {problem}", file=sys.stderr)
    node.owner_mark.unlink(missing_ok=True)
    if not owned:
        claim.release(layout)
    return stopped
