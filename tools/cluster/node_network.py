"""The pods' network: a bridge per node (`mlp0`, 10.88.0.1/16; node 2: `mlp1`, 10.89.0.1/16) and its CNI config.

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
import shlex
import subprocess

from tools.cluster.layout import SERVICE_CIDR
from tools.cluster.node_layout import BRIDGE, BRIDGES, CNI_NETWORK, PREFIX_LENGTH, NodeLayout
from tools.cluster.processes import ClusterError


# Pod-to-pod traffic crosses the host's FORWARD chain (br_netfilter), whose policy Docker sets to DROP: accepted,
# on one node's bridge or between the two nodes' bridges. Anything else a pod sends through the host (to eth0's
# side) is dropped, whatever the chain's policy.
def forward_rules(bridge: str) -> tuple[list[str], ...]:
    return (
        [
            "FORWARD",
            "-i",
            bridge,
            "-o",
            BRIDGES,
            "-m",
            "comment",
            "--comment",
            f"ml-platform: pod to pod from {bridge}",
            "-j",
            "ACCEPT",
        ],
        [
            "FORWARD",
            "-i",
            bridge,
            "!",
            "-o",
            BRIDGES,
            "-m",
            "comment",
            "--comment",
            f"ml-platform: pods never leave {bridge}",
            "-j",
            "DROP",
        ],
    )


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if check and result.returncode != 0:
        raise ClusterError(f"ip {' '.join(args)} failed: {result.stderr.strip() or result.returncode}")
    return result


def bridge_exists(bridge: str = BRIDGE) -> bool:
    return _ip("link", "show", "dev", bridge, check=False).returncode == 0


def _check_subnet_is_free(node: NodeLayout) -> None:
    """Refuses to start when another interface or route already uses the pod subnet (a VPN, podman's cni0...)."""
    ours = ipaddress.ip_network(node.pod_subnet)
    for route in json.loads(_ip("-j", "route", "show", "table", "all").stdout or "[]"):
        dst, dev = route.get("dst", ""), route.get("dev")
        if dev == node.bridge or dst in ("", "default") or ":" in dst:
            continue
        try:
            network = ipaddress.ip_network(dst, strict=False)
        except ValueError:
            continue
        if network.overlaps(ours):
            raise ClusterError(
                f"the pod subnet {node.pod_subnet} is in use on this machine ({dst} via {dev}); "
                "free it or change NodeLayout.pod_subnet in tools/cluster/node_layout.py"
            )


def create_bridge(node: NodeLayout) -> None:
    """Creates the node's bridge with its address (idempotent); node 1's also carries the Service range's route."""
    bridge, node_ip = node.bridge, node.node_ip
    if not bridge_exists(bridge):
        _check_subnet_is_free(node)
        _ip("link", "add", "name", bridge, "type", "bridge")
    addresses = json.loads(_ip("-j", "addr", "show", "dev", bridge).stdout or "[]")
    have = {info.get("local") for entry in addresses for info in entry.get("addr_info", [])}
    if node_ip not in have:
        _ip("addr", "add", f"{node_ip}/{PREFIX_LENGTH}", "dev", bridge)
    _ip("link", "set", "dev", bridge, "up")
    if node.index == 1:
        _ip("route", "replace", SERVICE_CIDR, "dev", bridge, "src", node_ip)
    # Inserted in reverse, so that the ACCEPT ends up above the DROP, both above Docker's and kube-proxy's rules.
    for rule in reversed(forward_rules(bridge)):
        if _iptables("-C", *rule).returncode != 0:
            result = _iptables("-I", *rule)
            if result.returncode != 0:
                raise ClusterError(f"iptables -I {' '.join(rule)} failed: {result.stderr.strip()}")


def delete_bridge(node: NodeLayout) -> bool:
    """Removes the node's bridge (its addresses and routes go with it) and FORWARD rules. True if it existed."""
    # Every FORWARD rule of ours for this bridge, found by its comment: also those an older version wrote.
    listed = _iptables("-S", "FORWARD").stdout.splitlines()
    for line in listed:
        words = shlex.split(line)
        if words[:2] == ["-A", "FORWARD"] and "ml-platform:" in " ".join(words) and words[2:4] == ["-i", node.bridge]:
            _iptables("-D", *words[1:])
    if not bridge_exists(node.bridge):
        return False
    _ip("link", "delete", "dev", node.bridge)
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
                "bridge": node.bridge,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": node.pod_subnet, "gateway": node.node_ip}]],
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
