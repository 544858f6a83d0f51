"""Where the real node lives: its directories under `.cluster/`, its network and its ports, in one place.

Everything the node writes stays under `.cluster/` (containerd's root and state, the kubelet's root, pod logs, CNI
state), so `make cluster-down` can find every mount to undo by its path, and removing the folder removes the rest.
The node's only address is on the project's own bridge: the kubelet refuses a loopback node IP, and eth0's address
must not be used, so the API server, metrics-server and `kubectl port-forward` reach the kubelet there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tools.cluster.layout import NODE_NAME, Layout

# The pods' network: a bridge of our own per node with host-local IPAM. 10.88.0.0/16 (node 1) and 10.89.0.0/16
# (node 2) do not collide with docker0's 172.17.0.0/16 nor with the Service range 10.96.0.0/16; start checks that
# no other interface or route uses them. Both nodes' kubelets run on this one host, so their pods reach each other
# through the host's routing between the two bridges.
BRIDGE = "mlp0"
BRIDGES = "mlp+"  # iptables' pattern for every node's bridge
ALL_POD_SUBNETS = "10.88.0.0/15"  # kube-proxy's clusterCIDR: node 1's and node 2's pods
PREFIX_LENGTH = 16
# The bridge's own address: the pods' gateway and the node's InternalIP.
NODE_IP = "10.88.0.1"
# The cluster's node, and the second one `make cluster NODES=2` adds (a drain needs somewhere to move pods to).
MAX_NODES = 2
CNI_NETWORK = "ml-platform"
# Debian's containernetworking-plugins installs here; /opt/cni/bin is the upstream tarball's place.
CNI_BIN_DIRS = (Path("/usr/lib/cni"), Path("/opt/cni/bin"))
CNI_PLUGINS = ("bridge", "host-local", "portmap", "loopback")

# Ports: the kubelet and metrics-server serve on the node's address (the API server calls them there); health
# and metrics endpoints stay on loopback.
KUBELET_PORT = 10250
KUBELET_HEALTHZ_PORT = 10248
KUBE_PROXY_HEALTHZ_PORT = 10256
KUBE_PROXY_METRICS_PORT = 10249
METRICS_SERVER_PORT = 4443


@dataclass(frozen=True)
class NodeLayout:
    """One real node's files inside a cluster's `.cluster/` folder, and its name, network and ports.

    Node 1 is the cluster's node (`ml-platform-node`, its files straight under `.cluster/`); node 2 is a second
    kubelet with its own containerd, bridge, pod subnet, healthz port and cgroup root, under `.cluster/node-2/`.
    What the host shares (the kernel settings, the host folders, the claim) is recorded once, by the cluster.
    """

    cluster: Layout
    index: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.index <= MAX_NODES:
            raise ValueError(f"node {self.index}: the local cluster has nodes 1 to {MAX_NODES}")

    @property
    def name(self) -> str:
        return NODE_NAME if self.index == 1 else f"{NODE_NAME}-{self.index}"

    def daemon(self, name: str) -> str:
        """A daemon's name (its pid and log file) on this node: `kubelet`, or `kubelet-2` on node 2."""
        return self.daemon_of(name, self.index)

    @staticmethod
    def daemon_of(name: str, index: int) -> str:
        return name if index == 1 else f"{name}-{index}"

    @property
    def bridge(self) -> str:
        return f"mlp{self.index - 1}"

    @property
    def pod_subnet(self) -> str:
        return f"10.{87 + self.index}.0.0/16"

    @property
    def node_ip(self) -> str:
        return f"10.{87 + self.index}.0.1"

    @property
    def kubelet_healthz_port(self) -> int:
        # The kubelet's API port binds the node's own address, so 10250 serves on both; healthz is on loopback.
        return KUBELET_HEALTHZ_PORT + 10 * (self.index - 1)

    @property
    def cgroup_root(self) -> str | None:
        """Node 2's pods live under their own cgroup: each kubelet removes pod cgroups it does not know."""
        return None if self.index == 1 else f"/{self.name}"

    @property
    def base(self) -> Path:
        return self.cluster.base if self.index == 1 else self.cluster.base / f"node-{self.index}"

    # containerd: its own instance, never Docker's (/var/lib/containerd, /run/containerd are left alone).
    @property
    def containerd_root(self) -> Path:
        return self.base / "containerd" / "root"

    @property
    def containerd_state(self) -> Path:
        return self.base / "containerd" / "state"

    @property
    def containerd_config(self) -> Path:
        return self.base / "containerd" / "config.toml"

    @property
    def registry_hosts(self) -> Path:
        """containerd's per-registry `hosts.toml` files (config_path)."""
        return self.base / "containerd" / "certs.d"

    @property
    def containerd_socket(self) -> Path:
        return self.cluster.run / f"{self.daemon('containerd')}.sock"

    @property
    def runc_root(self) -> Path:
        """runc's state (one folder per containerd namespace), for cleaning up after a containerd that died."""
        return self.containerd_state / "runc"

    # CNI
    @property
    def cni_conf_dir(self) -> Path:
        return self.base / "cni" / "net.d"

    @property
    def cni_ipam_dir(self) -> Path:
        """host-local's leases (its default, /var/lib/cni/networks, would outlive the cluster)."""
        return self.base / "cni" / "ipam"

    # kubelet
    @property
    def kubelet_root(self) -> Path:
        return self.base / "kubelet"

    @property
    def kubelet_config(self) -> Path:
        return self.base / "kubelet.json"

    @property
    def pod_logs(self) -> Path:
        return self.base / "pod-logs"

    @property
    def pod_resolv_conf(self) -> Path:
        return self.base / "pod-resolv.conf"

    @property
    def owner_mark(self) -> Path:
        """Written before the node touches the host: this cluster owns the bridge, chains and folders to undo.

        Every `make cluster-down` calls the node's teardown, a kwok cluster's too; without this mark it would
        remove the bridge and iptables chains of a real node that another clone's cluster runs.
        """
        return self.cluster.base / "real-node"

    @property
    def sysctl_snapshot(self) -> Path:
        """The host's kernel settings from before the kubelet's first start (node_sysctls.py)."""
        return self.cluster.base / "host-sysctls.json"

    @property
    def host_dirs_record(self) -> Path:
        """Which shared host folders did not exist before the node first started (host_cleanup.py)."""
        return self.cluster.base / "host-dirs-created.json"

    # the pause image
    @property
    def pause_build(self) -> Path:
        return self.cluster.base / "pause"

    # kube-proxy
    @property
    def kube_proxy_config(self) -> Path:
        return self.cluster.base / "kube-proxy.json"
