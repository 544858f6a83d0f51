"""The pods' network: the project's own bridge (`mlp0`, 10.88.0.1/16) and the CNI configuration that uses it.

The bridge is created here, with its gateway address, before the kubelet starts, because that address is the
node's InternalIP (the kubelet refuses a loopback one, and eth0's must not be used). The CNI bridge plugin then
finds it and attaches each pod's veth to it; host-local hands out the pods' addresses from the same subnet.

Three choices keep every packet on this machine: the Service range is routed onto the bridge (so a ClusterIP
that kube-proxy has no rule for yet is never sent to eth0's gateway), pods get no masquerading (ipMasq false),
and a FORWARD rule drops whatever a pod sends towards another interface.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess

from tools.cluster.layout import SERVICE_CIDR
from tools.cluster.node_layout import (
    BRIDGE,
    CNI_NETWORK,
    NODE_IP,
    POD_SUBNET,
    PREFIX_LENGTH,
    NodeLayout,
)
from tools.cluster.processes import ClusterError

# Pod-to-pod traffic crosses the host's FORWARD chain (br_netfilter), whose policy Docker sets to DROP: accepted.
# Anything else a pod sends through the host (to eth0's side) is dropped, whatever the chain's policy.
FORWARD_RULES = (
    [
        "FORWARD",
        "-i",
        BRIDGE,
        "-o",
        BRIDGE,
        "-m",
        "comment",
        "--comment",
        f"ml-platform: pod to pod on {BRIDGE}",
        "-j",
        "ACCEPT",
    ],
    [
        "FORWARD",
        "-i",
        BRIDGE,
        "!",
        "-o",
        BRIDGE,
        "-m",
        "comment",
        "--comment",
        f"ml-platform: pods never leave {BRIDGE}",
        "-j",
        "DROP",
    ],
)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if check and result.returncode != 0:
        raise ClusterError(f"ip {' '.join(args)} failed: {result.stderr.strip() or result.returncode}")
    return result


def bridge_exists() -> bool:
    return _ip("link", "show", "dev", BRIDGE, check=False).returncode == 0


def _check_subnet_is_free() -> None:
    """Refuses to start when another interface or route already uses the pod subnet (a VPN, podman's cni0...)."""
    ours = ipaddress.ip_network(POD_SUBNET)
    for route in json.loads(_ip("-j", "route", "show", "table", "all").stdout or "[]"):
        dst, dev = route.get("dst", ""), route.get("dev")
        if dev == BRIDGE or dst in ("", "default") or ":" in dst:
            continue
        try:
            network = ipaddress.ip_network(dst, strict=False)
        except ValueError:
            continue
        if network.overlaps(ours):
            raise ClusterError(
                f"the pod subnet {POD_SUBNET} is in use on this machine ({dst} via {dev}); "
                "free it or change POD_SUBNET in tools/cluster/node_layout.py"
            )


def create_bridge() -> None:
    """Creates the bridge with the node's address (idempotent) and routes the Service range onto it."""
    if not bridge_exists():
        _check_subnet_is_free()
        _ip("link", "add", "name", BRIDGE, "type", "bridge")
    addresses = json.loads(_ip("-j", "addr", "show", "dev", BRIDGE).stdout or "[]")
    have = {info.get("local") for entry in addresses for info in entry.get("addr_info", [])}
    if NODE_IP not in have:
        _ip("addr", "add", f"{NODE_IP}/{PREFIX_LENGTH}", "dev", BRIDGE)
    _ip("link", "set", "dev", BRIDGE, "up")
    _ip("route", "replace", SERVICE_CIDR, "dev", BRIDGE, "src", NODE_IP)
    # Inserted in reverse, so that the ACCEPT ends up above the DROP, both above Docker's and kube-proxy's rules.
    for rule in reversed(FORWARD_RULES):
        if _iptables("-C", *rule).returncode != 0:
            result = _iptables("-I", *rule)
            if result.returncode != 0:
                raise ClusterError(f"iptables -I {' '.join(rule)} failed: {result.stderr.strip()}")


def delete_bridge() -> bool:
    """Removes the bridge (its addresses and routes go with it) and our FORWARD rules. True if it existed."""
    for rule in FORWARD_RULES:
        while _iptables("-D", *rule).returncode == 0:
            pass
    if not bridge_exists():
        return False
    _ip("link", "delete", "dev", BRIDGE)
    return True


def _iptables(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["iptables", "-w", "5", *args], capture_output=True, text=True, timeout=30)


def write_cni_config(node: NodeLayout) -> None:
    """The CNI network containerd gives every pod: a veth on our bridge, an address from host-local, portmap."""
    config = {
        "cniVersion": "1.0.0",
        "name": CNI_NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_SUBNET, "gateway": NODE_IP}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(node.cni_ipam_dir),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    node.cni_conf_dir.mkdir(parents=True, exist_ok=True)
    node.cni_ipam_dir.mkdir(parents=True, exist_ok=True)
    (node.cni_conf_dir / "10-ml-platform.conflist").write_text(json.dumps(config, indent=2) + "\n")
