"""The kubelet (v1.34, from the toolchain) on containerd's CRI: the cluster's node, and the second one a drain adds.

Configured for this kind of machine: cgroup v1 with the cgroupfs driver (no systemd), swap tolerated, and all its
files under `.cluster/`. It serves on the node's bridge address (the API server calls it there for logs, exec and
port-forward) with a certificate from the cluster CA, authenticates callers by that CA or by token review, and
asks the API server to authorize them (Webhook), as kubeadm's kubelets do.
"""

from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import dataclass

from tools.cluster import host_cleanup, kubeconfig, node_sysctls, pki
from tools.cluster.api import Api
from tools.cluster.control_plane import Pki
from tools.cluster.layout import CLUSTER_DOMAIN, HOST, binary
from tools.cluster.node_layout import KUBELET_PORT, NodeLayout
from tools.cluster.processes import ClusterError, port_is_free, running_pid, start, wait_until

KUBELET = "kubelet"
# Measured here: the node is Ready about 1 s after the kubelet starts (containerd and the CNI config are there).
READY_TIMEOUT = 60.0
# Same zone label as the kwok node, so that the prod stack's topology spread applies on either.
NODE_LABELS = "topology.kubernetes.io/zone=local-a"


@dataclass(frozen=True)
class KubeletCerts:
    client: pki.KeyPair  # system:node:<name> in system:nodes: the Node authorizer's identity for this node
    serving: pki.KeyPair  # the kubelet's HTTPS endpoint, for the node's name and address


def make_certs(node: NodeLayout, certs: Pki) -> KubeletCerts:
    directory, kubelet = node.cluster.pki, node.daemon(KUBELET)
    return KubeletCerts(
        client=pki.issue(
            certs.ca, directory, f"{kubelet}-client", f"system:node:{node.name}", "system:nodes", client=True
        ),
        serving=pki.issue(
            certs.ca, directory, f"{kubelet}-serving", node.name, server=True, dns=(node.name,), ips=(node.node_ip,)
        ),
    )


def config(node: NodeLayout, certs: Pki, kubelet_certs: KubeletCerts) -> dict:
    """The KubeletConfiguration (v1beta1)."""
    settings: dict = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": node.node_ip,
        "port": KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzBindAddress": HOST,
        "healthzPort": node.kubelet_healthz_port,
        "tlsCertFile": str(kubelet_certs.serving.cert),
        "tlsPrivateKeyFile": str(kubelet_certs.serving.key),
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True, "cacheTTL": "30s"},
            "x509": {"clientCAFile": str(certs.ca.cert)},
        },
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": f"unix://{node.containerd_socket}",
        # This kernel has cgroup v1 and no systemd: cgroupfs, and 1.34's deprecation of v1 must not stop it.
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "failSwapOn": False,
        "clusterDomain": CLUSTER_DOMAIN,
        # No cluster DNS runs; pods get a resolv.conf with no server rather than the host's (not loopback).
        "resolvConf": str(node.pod_resolv_conf),
        "podLogsDir": str(node.pod_logs),
        # Root here cannot lower any oom_score_adj (no CAP_SYS_RESOURCE); on a dev machine the kubelet need not
        # outlive the user's own processes either.
        "oomScoreAdj": 0,
        # A developer's disk is theirs: no image garbage collection (the pause image cannot be pulled back) and
        # no eviction until it is nearly full.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "2%",
            "imagefs.available": "2%",
            "nodefs.inodesFree": "2%",
        },
        "registerNode": True,
        "serializeImagePulls": False,
    }
    if node.cgroup_root:
        settings["cgroupRoot"] = node.cgroup_root
    return settings


def _healthz_ok(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/healthz", timeout=2) as response:
            return response.read() == b"ok"
    except OSError:
        return False


def start_kubelet(node: NodeLayout, server: str, certs: Pki, api: Api) -> float | None:
    """Starts the kubelet (if not running) and waits until the node is Ready; returns seconds to Ready if started."""
    layout, kubelet = node.cluster, node.daemon(KUBELET)
    kubelet_certs = make_certs(node, certs)
    if running_pid(layout, kubelet) is None:
        for host, port in ((node.node_ip, KUBELET_PORT), (HOST, node.kubelet_healthz_port)):
            if not port_is_free(host, port):
                raise ClusterError(f"{kubelet}: port {host}:{port} is taken by another process")
        kc = kubeconfig.write(layout.kubeconfigs / f"{kubelet}.kubeconfig", server, certs.ca.cert, kubelet_certs.client)
        node.pod_resolv_conf.parent.mkdir(parents=True, exist_ok=True)
        node.pod_resolv_conf.write_text("# No cluster DNS in the local cluster (tools/cluster/kubelet.py).\n")
        node.pod_logs.mkdir(parents=True, exist_ok=True)
        node.kubelet_root.mkdir(parents=True, exist_ok=True)
        node.kubelet_config.write_text(json.dumps(config(node, certs, kubelet_certs), indent=2) + "\n")
        node_sysctls.save(node.sysctl_snapshot)
        if node.cgroup_root:
            host_cleanup.create_cgroup_root(node.cgroup_root)
        started = time.monotonic()
        start(
            layout,
            kubelet,
            [
                str(binary(KUBELET)),
                f"--config={node.kubelet_config}",
                f"--kubeconfig={kc}",
                f"--root-dir={node.kubelet_root}",
                f"--hostname-override={node.name}",
                f"--node-ip={node.node_ip}",
                f"--node-labels={NODE_LABELS}",
            ],
        )
    else:
        started = None
    wait_until(layout, kubelet, lambda: _healthz_ok(node.kubelet_healthz_port), READY_TIMEOUT, f"{kubelet} /healthz")
    wait_until(layout, kubelet, lambda: api.node_ready(node.name), READY_TIMEOUT, f"node {node.name} Ready")
    return None if started is None else time.monotonic() - started
