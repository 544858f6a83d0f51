"""metrics-server (v0.8.0) as a host process, so that the HPA (and `kubectl top`) get the pods' CPU and memory.

A host process rather than a pod: it needs no image (none can be pulled here) and starts with the node. It serves
on the node's bridge address; the `v1beta1.metrics.k8s.io` APIService points at a Service without a selector
whose EndpointSlice names that address, and the API server (with --enable-aggregator-routing) calls it there,
authenticating as the front proxy. It reads the kubelet's /metrics/resource over HTTPS, checking the kubelet's
certificate against the cluster CA (no --kubelet-insecure-tls).
"""

from __future__ import annotations

import base64
import ssl
import urllib.request

from tools.cluster import kubeconfig, pki
from tools.cluster.api import Api, ApiError
from tools.cluster.control_plane import Pki
from tools.cluster.layout import binary
from tools.cluster.node_layout import METRICS_SERVER_PORT, NODE_IP, NodeLayout
from tools.cluster.processes import ClusterError, port_is_free, running_pid, start, wait_until

METRICS_SERVER = "metrics-server"
NAMESPACE = "kube-system"
USER = "ml-platform:metrics-server"
SERVICE_DNS = f"{METRICS_SERVER}.{NAMESPACE}.svc"  # the name the API server checks the serving certificate for
APISERVICE = "v1beta1.metrics.k8s.io"
START_TIMEOUT = 60.0
RESOLUTION = "15s"


def objects(ca_bundle: bytes) -> list[tuple[str, dict]]:
    """(collection path, object) for what the aggregation layer and RBAC need; those of upstream's manifests,
    with a user (the client certificate's CN) instead of a service account, and an EndpointSlice to the host."""
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    user = [{"kind": "User", "name": USER, "apiGroup": "rbac.authorization.k8s.io"}]

    def role_ref(kind: str, name: str) -> dict:
        return {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name}

    return [
        (
            f"{rbac}/clusterroles",
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": "system:metrics-server"},
                "rules": [
                    {"apiGroups": [""], "resources": ["nodes/metrics"], "verbs": ["get"]},
                    {"apiGroups": [""], "resources": ["pods", "nodes"], "verbs": ["get", "list", "watch"]},
                ],
            },
        ),
        (
            f"{rbac}/clusterrolebindings",
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": "system:metrics-server"},
                "roleRef": role_ref("ClusterRole", "system:metrics-server"),
                "subjects": user,
            },
        ),
        # Delegated authentication and authorization: token reviews, access reviews, the front proxy's CA.
        (
            f"{rbac}/clusterrolebindings",
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": "metrics-server:system:auth-delegator"},
                "roleRef": role_ref("ClusterRole", "system:auth-delegator"),
                "subjects": user,
            },
        ),
        (
            f"{rbac}/namespaces/{NAMESPACE}/rolebindings",
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "metrics-server-auth-reader", "namespace": NAMESPACE},
                "roleRef": role_ref("Role", "extension-apiserver-authentication-reader"),
                "subjects": user,
            },
        ),
        (
            f"/api/v1/namespaces/{NAMESPACE}/services",
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": METRICS_SERVER, "namespace": NAMESPACE},
                # No selector: the endpoint is the host process, declared below.
                "spec": {
                    "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": METRICS_SERVER_PORT}]
                },
            },
        ),
        (
            f"/apis/discovery.k8s.io/v1/namespaces/{NAMESPACE}/endpointslices",
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": METRICS_SERVER,
                    "namespace": NAMESPACE,
                    "labels": {
                        "kubernetes.io/service-name": METRICS_SERVER,
                        "endpointslice.kubernetes.io/managed-by": "ml-platform.local-cluster",
                    },
                },
                "addressType": "IPv4",
                "endpoints": [{"addresses": [NODE_IP], "conditions": {"ready": True}}],
                "ports": [{"name": "https", "port": METRICS_SERVER_PORT, "protocol": "TCP"}],
            },
        ),
        (
            "/apis/apiregistration.k8s.io/v1/apiservices",
            {
                "apiVersion": "apiregistration.k8s.io/v1",
                "kind": "APIService",
                "metadata": {"name": APISERVICE},
                "spec": {
                    "group": "metrics.k8s.io",
                    "version": "v1beta1",
                    "service": {"name": METRICS_SERVER, "namespace": NAMESPACE, "port": 443},
                    "caBundle": base64.b64encode(ca_bundle).decode(),
                    "groupPriorityMinimum": 100,
                    "versionPriority": 100,
                },
            },
        ),
    ]


def _livez(ca: str) -> bool:
    context = ssl.create_default_context(cafile=ca)
    try:
        with urllib.request.urlopen(
            f"https://{NODE_IP}:{METRICS_SERVER_PORT}/livez", context=context, timeout=2
        ) as response:
            return response.status == 200
    except OSError:
        return False


def apiservice_available(api: Api) -> bool:
    try:
        status = api.get(f"/apis/apiregistration.k8s.io/v1/apiservices/{APISERVICE}").get("status", {})
    except (OSError, ApiError):
        return False
    return any(c.get("type") == "Available" and c.get("status") == "True" for c in status.get("conditions", []))


def start_metrics_server(node: NodeLayout, server: str, certs: Pki, api: Api) -> None:
    """Registers the metrics API, starts metrics-server (if not running) and waits until the API is Available."""
    layout = node.cluster
    client = pki.issue(certs.ca, layout.pki, "metrics-server-client", USER, client=True)
    serving = pki.issue(
        certs.ca,
        layout.pki,
        "metrics-server-serving",
        METRICS_SERVER,
        server=True,
        dns=(SERVICE_DNS, f"{SERVICE_DNS}.cluster.local"),
        ips=(NODE_IP,),
    )
    for path, body in objects(certs.ca.cert.read_bytes()):
        api.create(path, body)
    if running_pid(layout, METRICS_SERVER) is None:
        if not port_is_free(NODE_IP, METRICS_SERVER_PORT):
            raise ClusterError(f"metrics-server: port {NODE_IP}:{METRICS_SERVER_PORT} is taken by another process")
        kc = kubeconfig.write(layout.kubeconfigs / "metrics-server.kubeconfig", server, certs.ca.cert, client)
        start(
            layout,
            METRICS_SERVER,
            [
                str(binary(METRICS_SERVER)),
                f"--kubeconfig={kc}",
                f"--authentication-kubeconfig={kc}",
                f"--authorization-kubeconfig={kc}",
                f"--bind-address={NODE_IP}",
                f"--secure-port={METRICS_SERVER_PORT}",
                f"--tls-cert-file={serving.cert}",
                f"--tls-private-key-file={serving.key}",
                f"--requestheader-client-ca-file={certs.front_proxy_ca.cert}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--kubelet-certificate-authority={certs.ca.cert}",
                "--kubelet-preferred-address-types=InternalIP",
                "--kubelet-use-node-status-port",
                f"--metric-resolution={RESOLUTION}",
            ],
        )
    # Serving and registered is enough: its /readyz waits for a CPU rate (two scrapes, 15 s), which the HPA and
    # `kubectl top` wait for on their own; `make cluster` need not.
    wait_until(layout, METRICS_SERVER, lambda: _livez(str(certs.ca.cert)), START_TIMEOUT, "metrics-server /livez")
    wait_until(
        layout, METRICS_SERVER, lambda: apiservice_available(api), START_TIMEOUT, f"APIService {APISERVICE} Available"
    )
