"""kube-proxy in iptables mode, so that Service ClusterIPs (10.96.0.0/16) lead to the pods on this host.

It leaves the host's kernel settings alone (conntrack limits and timeouts at 0 mean "as they are"; no
localhost NodePorts, which would need route_localnet=1), opens NodePorts only on the bridge's subnet (never on
eth0), and keeps its health and metrics endpoints on loopback. `kube-proxy --cleanup` removes its rules at teardown.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request

from tools.cluster import kubeconfig, pki
from tools.cluster.control_plane import Pki
from tools.cluster.layout import HOST, NODE_NAME, binary
from tools.cluster.node_layout import (
    ALL_POD_SUBNETS,
    KUBE_PROXY_HEALTHZ_PORT,
    KUBE_PROXY_METRICS_PORT,
    NODE_IP,
    NodeLayout,
)
from tools.cluster.processes import ClusterError, port_is_free, running_pid, start, wait_until

KUBE_PROXY = "kube-proxy"
START_TIMEOUT = 30.0


def config(node: NodeLayout, kubeconfig_path: str) -> dict:
    """The KubeProxyConfiguration (v1alpha1)."""
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": kubeconfig_path},
        "hostnameOverride": NODE_NAME,
        "bindAddress": NODE_IP,
        "healthzBindAddress": f"{HOST}:{KUBE_PROXY_HEALTHZ_PORT}",
        "metricsBindAddress": f"{HOST}:{KUBE_PROXY_METRICS_PORT}",
        "mode": "iptables",
        # Traffic from outside the pods' subnets to a Service is masqueraded; from a pod, it keeps its source. One
        # kube-proxy serves both nodes: they share this host's iptables, so a second one would only rewrite its rules.
        "clusterCIDR": ALL_POD_SUBNETS,
        "detectLocalMode": "ClusterCIDR",
        "nodePortAddresses": [ALL_POD_SUBNETS],
        "iptables": {"localhostNodePorts": False, "masqueradeAll": False, "syncPeriod": "30s", "minSyncPeriod": "1s"},
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
            "udpTimeout": "0s",
            "udpStreamTimeout": "0s",
        },
        "oomScoreAdj": 0,
    }


def _healthz_ok() -> bool:
    # 200 once it has programmed the rules at least once since it started.
    try:
        with urllib.request.urlopen(f"http://{HOST}:{KUBE_PROXY_HEALTHZ_PORT}/healthz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def start_kube_proxy(node: NodeLayout, server: str, certs: Pki) -> None:
    """Starts kube-proxy (if not running) as system:kube-proxy, and waits until it has synced its rules."""
    layout = node.cluster
    if running_pid(layout, KUBE_PROXY) is None:
        for port in (KUBE_PROXY_HEALTHZ_PORT, KUBE_PROXY_METRICS_PORT):
            if not port_is_free(HOST, port):
                raise ClusterError(f"kube-proxy: port {HOST}:{port} is taken by another process")
        # RBAC's bootstrap binding system:node-proxier names the user system:kube-proxy.
        client = pki.issue(certs.ca, layout.pki, "kube-proxy", "system:kube-proxy", client=True)
        kc = kubeconfig.write(layout.kubeconfigs / "kube-proxy.kubeconfig", server, certs.ca.cert, client)
        node.kube_proxy_config.write_text(json.dumps(config(node, str(kc)), indent=2) + "\n")
        start(layout, KUBE_PROXY, [str(binary(KUBE_PROXY)), f"--config={node.kube_proxy_config}"])
    wait_until(layout, KUBE_PROXY, _healthz_ok, START_TIMEOUT, "kube-proxy /healthz")


def cleanup() -> str | None:
    """`kube-proxy --cleanup`: removes the rules of every proxy mode. Returns the error line, if it failed."""
    proxy = binary(KUBE_PROXY)
    if not proxy.is_file():
        return None  # the generic sweep (iptables_cleanup) still removes the KUBE-* chains
    try:
        result = subprocess.run([str(proxy), "--cleanup"], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return "kube-proxy --cleanup did not finish within 60 s"
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        return f"kube-proxy --cleanup: {lines[-1] if lines else result.returncode}"
    return None
