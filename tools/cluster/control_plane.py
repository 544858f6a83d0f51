"""The control plane: etcd, kube-apiserver (with Pod Security admission), controller-manager and scheduler.

The flags are those of Kubernetes' own single-machine recipe (hack/local-up-cluster.sh), cut to what this cluster
uses, all on loopback. etcd speaks plain HTTP on loopback: only the API server talks to it.
"""

from __future__ import annotations

import ssl
import urllib.request
from dataclasses import dataclass

from tools.cluster import kubeconfig, pki
from tools.cluster.api import Api
from tools.cluster.layout import (
    CLUSTER_DOMAIN,
    HOST,
    KUBERNETES_SERVICE_IP,
    SERVICE_CIDR,
    Layout,
    Ports,
    binary,
)
from tools.cluster.processes import ClusterError, port_is_free, running_pid, start, wait_until

ETCD = "etcd"
APISERVER = "kube-apiserver"
CONTROLLER_MANAGER = "kube-controller-manager"
SCHEDULER = "kube-scheduler"
COMPONENTS = (ETCD, APISERVER, CONTROLLER_MANAGER, SCHEDULER)

SERVICE_ACCOUNT_ISSUER = f"https://kubernetes.default.svc.{CLUSTER_DOMAIN}"
# Cold start on 2 cores: etcd < 1 s, the API server 5-10 s (its post-start hooks), the others 1-3 s.
START_TIMEOUT = 60.0


@dataclass(frozen=True)
class Pki:
    """The cluster's certificates (see pki.py for who is who)."""

    ca: pki.KeyPair
    front_proxy_ca: pki.KeyPair
    apiserver: pki.KeyPair
    apiserver_kubelet_client: pki.KeyPair
    front_proxy_client: pki.KeyPair
    admin: pki.KeyPair
    controller_manager: pki.KeyPair
    scheduler: pki.KeyPair
    service_account_key: str


def make_pki(layout: Layout) -> Pki:
    d = layout.pki
    ca = pki.make_ca(d, "ca")
    front_proxy_ca = pki.make_ca(d, "front-proxy-ca")
    return Pki(
        ca=ca,
        front_proxy_ca=front_proxy_ca,
        apiserver=pki.issue(
            ca,
            d,
            "apiserver",
            "kube-apiserver",
            server=True,
            dns=(
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                f"kubernetes.default.svc.{CLUSTER_DOMAIN}",
            ),
            ips=(HOST, KUBERNETES_SERVICE_IP),
        ),
        # The API server's identity towards kubelets (logs, exec, port-forward).
        apiserver_kubelet_client=pki.issue(
            ca, d, "apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters", client=True
        ),
        # The aggregation layer's identity towards extension API servers (metrics-server).
        front_proxy_client=pki.issue(front_proxy_ca, d, "front-proxy-client", "front-proxy-client", client=True),
        admin=pki.issue(ca, d, "admin", "ml-platform-admin", "system:masters", client=True),
        controller_manager=pki.issue(ca, d, "controller-manager", "system:kube-controller-manager", client=True),
        scheduler=pki.issue(ca, d, "scheduler", "system:kube-scheduler", client=True),
        service_account_key=str(pki.service_account_key(d)),
    )


def api(layout: Layout, certs: Pki, ports: Ports) -> Api:
    return Api(f"https://{HOST}:{ports.apiserver}", str(certs.ca.cert), certs.admin)


def _healthz_ok(port: int) -> bool:
    # The controller-manager and scheduler serve /healthz with a self-signed certificate, open to anyone.
    context = ssl._create_unverified_context()  # noqa: S323 - loopback health probe of our own process
    try:
        with urllib.request.urlopen(f"https://{HOST}:{port}/healthz", context=context, timeout=2) as response:
            return response.read() == b"ok"
    except OSError:
        return False


def _etcd_healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=2) as response:
            return b'"health":"true"' in response.read()
    except OSError:
        return False


def _ensure_port(layout: Layout, name: str, port: int) -> None:
    if running_pid(layout, name) is None and not port_is_free(HOST, port):
        raise ClusterError(f"{name}: port {HOST}:{port} is taken by another process (free it, or stop that cluster)")


def start_control_plane(layout: Layout, ports: Ports) -> Pki:
    """Starts whatever part of the control plane is not running, and waits until the API server is ready."""
    for name, port in (
        (ETCD, ports.etcd_client),
        (ETCD, ports.etcd_peer),
        (APISERVER, ports.apiserver),
        (CONTROLLER_MANAGER, ports.controller_manager),
        (SCHEDULER, ports.scheduler),
    ):
        _ensure_port(layout, name, port)
    certs = make_pki(layout)
    server = f"https://{HOST}:{ports.apiserver}"
    kc = layout.kubeconfigs
    kubeconfig.write(layout.kubeconfig, server, certs.ca.cert, certs.admin)
    cm_config = kubeconfig.write(kc / "controller-manager.kubeconfig", server, certs.ca.cert, certs.controller_manager)
    scheduler_config = kubeconfig.write(kc / "scheduler.kubeconfig", server, certs.ca.cert, certs.scheduler)

    if running_pid(layout, ETCD) is None:
        client_url = f"http://{HOST}:{ports.etcd_client}"
        peer_url = f"http://{HOST}:{ports.etcd_peer}"
        start(
            layout,
            ETCD,
            [
                str(binary("etcd")),
                "--name=ml-platform",
                f"--data-dir={layout.etcd_data}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=ml-platform={peer_url}",
                "--log-level=warn",
                # A throwaway cluster: losing the last writes on a power cut is fine, and fsync is slow on CI disks.
                "--unsafe-no-fsync",
            ],
        )
    wait_until(layout, ETCD, lambda: _etcd_healthy(ports.etcd_client), START_TIMEOUT, "etcd")

    if running_pid(layout, APISERVER) is None:
        start(
            layout,
            APISERVER,
            [
                str(binary(APISERVER)),
                f"--advertise-address={HOST}",
                # The API server listens on loopback only, an address an Endpoints object may not name; so it does not
                # publish itself behind the `kubernetes` Service (no pod here talks to the API server through it).
                "--endpoint-reconciler-type=none",
                f"--bind-address={HOST}",
                f"--secure-port={ports.apiserver}",
                f"--etcd-servers=http://{HOST}:{ports.etcd_client}",
                f"--client-ca-file={certs.ca.cert}",
                f"--tls-cert-file={certs.apiserver.cert}",
                f"--tls-private-key-file={certs.apiserver.key}",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-key-file={certs.service_account_key}",
                f"--service-account-signing-key-file={certs.service_account_key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=Node,RBAC",
                # PodSecurity is on by default; NodeRestriction keeps a kubelet to its own node's objects.
                "--enable-admission-plugins=NodeRestriction",
                # Privileged pods are allowed by the API server, so that what refuses them in the stack's namespace is
                # Pod Security admission's `restricted` level, as on a real cluster.
                "--allow-privileged=true",
                f"--kubelet-client-certificate={certs.apiserver_kubelet_client.cert}",
                f"--kubelet-client-key={certs.apiserver_kubelet_client.key}",
                # A real node's kubelet is called at its InternalIP (the bridge address): the default order tries the
                # node's Hostname address first, and looking that name up would send a DNS query off this machine.
                "--kubelet-preferred-address-types=InternalIP",
                f"--requestheader-client-ca-file={certs.front_proxy_ca.cert}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={certs.front_proxy_client.cert}",
                f"--proxy-client-key-file={certs.front_proxy_client.key}",
                # Aggregated APIs (metrics-server) are reached at their endpoints' addresses, not through kube-proxy.
                "--enable-aggregator-routing=true",
                "--profiling=false",
            ],
        )
    client = api(layout, certs, ports)
    wait_until(layout, APISERVER, client.ready, START_TIMEOUT, "kube-apiserver /readyz")

    if running_pid(layout, CONTROLLER_MANAGER) is None:
        start(
            layout,
            CONTROLLER_MANAGER,
            [
                str(binary(CONTROLLER_MANAGER)),
                f"--kubeconfig={cm_config}",
                f"--authentication-kubeconfig={cm_config}",
                f"--authorization-kubeconfig={cm_config}",
                f"--bind-address={HOST}",
                f"--secure-port={ports.controller_manager}",
                "--leader-elect=false",
                f"--service-account-private-key-file={certs.service_account_key}",
                f"--root-ca-file={certs.ca.cert}",
                f"--cluster-signing-cert-file={certs.ca.cert}",
                f"--cluster-signing-key-file={certs.ca.key}",
                "--use-service-account-credentials=true",
                # A node is NotReady after 3 minutes without a heartbeat, not the default 50 s: on 2 busy cores (an
                # image build beside the cluster) a late heartbeat is not a dead node, and a NotReady flap marks every
                # pod on it unready, which kwok never undoes.
                "--node-monitor-grace-period=180s",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
            ],
        )
    if running_pid(layout, SCHEDULER) is None:
        start(
            layout,
            SCHEDULER,
            [
                str(binary(SCHEDULER)),
                f"--kubeconfig={scheduler_config}",
                f"--authentication-kubeconfig={scheduler_config}",
                f"--authorization-kubeconfig={scheduler_config}",
                f"--bind-address={HOST}",
                f"--secure-port={ports.scheduler}",
                "--leader-elect=false",
            ],
        )
    wait_until(layout, CONTROLLER_MANAGER, lambda: _healthz_ok(ports.controller_manager), START_TIMEOUT)
    wait_until(layout, SCHEDULER, lambda: _healthz_ok(ports.scheduler), START_TIMEOUT)
    return certs
