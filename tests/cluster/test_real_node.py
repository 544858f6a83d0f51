"""The local cluster's real node: a PSS-restricted pod of the model image, pulled from the local registry by digest,
serves a real V2 inference through `kubectl port-forward`; a Service routes through kube-proxy; the metrics API
reports the pod's CPU; and `cluster down` leaves no process, bridge, iptables chain or mount behind.

Skipped with the reason where no real node can run (see real_node_fixtures.py); in CI that is a failure.
Traffic goes only to loopback (port-forward) and to addresses on the node's own bridge (the ClusterIP is routed
onto it, and kube-proxy turns it into the pod's address there).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.cluster_load import example_rows
from tests.cluster.predictions import assert_same_predictions
from tests.cluster.real_node_fixtures import RealCluster, cluster_command, host_sysctls, node_processes
from tests.loopback import free_port
from tools.cluster import host_cleanup, iptables_cleanup, node_network
from tools.cluster.layout import NODE_NAME, Layout, binary
from tools.cluster.node_claim import Claim as NodeClaim
from tools.cluster.node_layout import BRIDGE, NodeLayout
from tools.cluster.pause_image import IMAGE as PAUSE_IMAGE
from tools.cluster.processes import stop_child

# One namespace per session: a previous session's may still be terminating on a cluster that stays up.
NAMESPACE = f"real-node-test-{uuid.uuid4().hex[:6]}"
MODEL_NAME = "breast-cancer"
MODEL_FILE = Path(__file__).resolve().parents[2] / "model" / "artifacts" / f"{MODEL_NAME}.onnx"
PORT = 8080
# The first pod pulls about 150 MB from the local registry; later ones start from containerd's cache.
FIRST_READY_TIMEOUT = 180
READY_TIMEOUT = 60


def restricted_pod(name: str, image: str) -> dict[str, Any]:
    """The model server as the stack runs it: everything Pod Security's `restricted` level asks for."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": "model-server"}},
        "spec": {
            "automountServiceAccountToken": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 10001,
                "runAsGroup": 10001,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "server",
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "ports": [{"name": "http", "containerPort": PORT}],
                    "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": "http"}, "periodSeconds": 1},
                    "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                    "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                }
            ],
            "volumes": [{"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}}],
        },
    }


def apply_until_ready(cluster: RealCluster, pod: dict[str, Any], timeout: float) -> float:
    """Applies `pod` and waits until it is Ready; returns the seconds it took. Fails with the pod's events if not."""
    started = time.monotonic()
    cluster.apply(pod)
    name = pod["metadata"]["name"]
    waited = cluster.kubectl(
        "wait",
        "-n",
        NAMESPACE,
        "--for=condition=Ready",
        f"pod/{name}",
        f"--timeout={timeout}s",
        timeout=timeout + 15,
        check=False,
    )
    seconds = time.monotonic() - started
    if waited.returncode != 0:
        events = cluster.kubectl(
            "get",
            "events",
            "-n",
            NAMESPACE,
            "--field-selector",
            f"involvedObject.name={name}",
            "-o",
            "custom-columns=REASON:.reason,MESSAGE:.message",
            check=False,
        ).stdout
        pytest.fail(f"pod {name} not Ready within {timeout} s; its events:\n{events}")
    return seconds


def delete_pod(cluster: RealCluster, name: str) -> None:
    cluster.kubectl(
        "delete", "pod", "-n", NAMESPACE, name, "--grace-period=1", "--wait=true", "--ignore-not-found", timeout=60
    )


@pytest.fixture(scope="module")
def namespace(real_cluster: RealCluster) -> Iterator[str]:
    real_cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": NAMESPACE, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
        }
    )
    yield NAMESPACE
    if real_cluster.is_up():
        real_cluster.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)


@pytest.fixture(scope="module")
def server_pod(real_cluster: RealCluster, namespace: str, model_image: str) -> Iterator[dict[str, Any]]:
    """A Ready pod of the model image; measures apply-to-Ready with the image pulled, then with it cached."""
    first = apply_until_ready(real_cluster, restricted_pod("model-server-first", model_image), FIRST_READY_TIMEOUT)
    real_cluster.measured["pod apply to Ready, image pulled from the registry"] = f"{first:.1f} s"
    delete_pod(real_cluster, "model-server-first")
    cached = apply_until_ready(real_cluster, restricted_pod("model-server", model_image), READY_TIMEOUT)
    real_cluster.measured["pod apply to Ready, image cached"] = f"{cached:.1f} s"
    yield real_cluster.get("pod", "-n", NAMESPACE, "model-server")
    if real_cluster.is_up():
        delete_pod(real_cluster, "model-server")


class PortForward:
    """`kubectl port-forward` of a pod's port to a free loopback port, stopped by its pid."""

    def __init__(self, cluster: RealCluster, pod: str, port: int):
        self.local_port = free_port()
        self.process = subprocess.Popen(
            [
                str(binary("kubectl")),
                f"--kubeconfig={cluster.kubeconfig}",
                "port-forward",
                "-n",
                NAMESPACE,
                "--address",
                "127.0.0.1",
                f"pod/{pod}",
                f"{self.local_port}:{port}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # "Forwarding from 127.0.0.1:N -> 8080", or the error
        if "Forwarding from" not in line:
            self.close()
            pytest.fail(f"kubectl port-forward failed: {line.strip()}")
        self.url = f"http://127.0.0.1:{self.local_port}"

    def close(self) -> None:
        stop_child(self.process)


def test_the_pod_runs_the_image_pulled_by_digest(server_pod, model_image):
    (status,) = server_pod["status"]["containerStatuses"]
    assert status["ready"] is True
    digest = model_image.split("@", 1)[1]
    assert status["imageID"].endswith(digest), f"{status['imageID']} is not {model_image}"
    assert server_pod["spec"]["nodeName"] == "ml-platform-node"
    assert server_pod["status"]["podIP"].startswith("10.88."), "the pod's address is not on the node's bridge"


def test_a_restricted_pod_answers_a_v2_inference_through_port_forward(real_cluster, server_pod):

    rows = example_rows(4)
    forward = PortForward(real_cluster, server_pod["metadata"]["name"], PORT)
    try:
        with httpx.Client(base_url=forward.url, timeout=10) as client:
            metadata = client.get(f"/v2/models/{MODEL_NAME}").raise_for_status().json()
            (model_input,) = metadata["inputs"]
            body = {
                "inputs": [
                    {
                        "name": model_input["name"],
                        "shape": list(rows.shape),
                        "datatype": model_input["datatype"],
                        "data": rows.ravel().tolist(),
                    }
                ]
            }
            response = client.post(f"/v2/models/{MODEL_NAME}/infer", json=body)
    finally:
        forward.close()
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["model_name"] == MODEL_NAME
    assert_same_predictions(result, MODEL_FILE, rows)


def test_a_service_cluster_ip_reaches_the_pod_through_kube_proxy(real_cluster, server_pod):
    real_cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "model-server", "namespace": NAMESPACE},
            "spec": {
                "selector": {"app": "model-server"},
                "ports": [{"name": "http", "port": PORT, "targetPort": "http"}],
            },
        }
    )
    cluster_ip = real_cluster.get("service", "-n", NAMESPACE, "model-server")["spec"]["clusterIP"]
    assert cluster_ip.startswith("10.96.")
    # kube-proxy programs the rule within its minimum sync period (1 s) of the endpoints appearing.
    deadline = time.monotonic() + 30
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = httpx.get(f"http://{cluster_ip}:{PORT}/v2/health/ready", timeout=2).status_code
            if last == 200:
                return
        except httpx.TransportError as error:
            last = error
        time.sleep(0.5)
    pytest.fail(f"http://{cluster_ip}:{PORT} never answered 200 (last: {last!r})")


def test_the_metrics_api_reports_the_pods_cpu(real_cluster, server_pod):
    path = f"/apis/metrics.k8s.io/v1beta1/namespaces/{NAMESPACE}/pods/{server_pod['metadata']['name']}"
    # metrics-server scrapes every 15 s; a new pod appears after its first two scrapes.
    deadline = time.monotonic() + 75
    last = ""
    while time.monotonic() < deadline:
        result = real_cluster.kubectl("get", "--raw", path, check=False)
        if result.returncode == 0:
            (container,) = json.loads(result.stdout)["containers"]
            assert container["usage"]["cpu"].rstrip("num").isdigit()
            return
        last = result.stderr.strip()
        time.sleep(2)
    pytest.fail(f"GET {path} never answered: {last}")


def test_cluster_down_leaves_no_process_bridge_iptables_chain_mount_or_folder(real_cluster):
    if not real_cluster.started_here:
        pytest.skip("the cluster ran before these tests; they do not stop someone else's cluster")
    node = NodeLayout(real_cluster.layout)
    processes = node_processes(real_cluster.layout)
    assert "kubelet" in processes and "containerd" in processes
    result = cluster_command("down", timeout=180)
    assert result.returncode == 0, result.stderr
    assert "real node teardown" not in result.stderr, result.stderr

    alive = [
        f"{name} (pid {pid})"
        for name, pid in processes.items()
        if Path(f"/proc/{pid}").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    ]
    assert not alive, f"still running: {alive}"
    shims = [
        p.name
        for p in Path("/proc").iterdir()
        if p.name.isdigit() and str(node.containerd_socket).encode() in _cmdline(p)
    ]
    assert not shims, f"processes still naming our containerd socket: {shims}"
    assert not node_network.bridge_exists(), f"bridge {BRIDGE} is still there"
    assert not iptables_cleanup.leftover_chains(), iptables_cleanup.leftover_chains()
    forward_rules = subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True).stdout
    assert BRIDGE not in forward_rules
    assert not host_cleanup.mounts_under(real_cluster.layout.base)
    assert not real_cluster.layout.base.exists()
    assert not list(Path("/sys/fs/cgroup").glob(f"*/{host_cleanup.KUBEPODS}"))
    assert host_sysctls() == real_cluster.sysctls_before, "the kubelet's kernel settings were not restored"
    created = [str(d) for d, existed in real_cluster.host_dirs_before.items() if not existed and d.exists()]
    assert not created, f"host folders left behind: {created}"


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


def test_a_real_node_that_died_without_teardown_is_cleaned_up_by_the_next_cluster(real_cluster, clusters):
    """Another clone's cluster, killed (as a CI job or a session can be), leaves its bridge, mounts and chains: the
    next `make cluster` anywhere on the machine tears them down from that clone's own records and starts."""
    if not real_cluster.started_here:
        pytest.skip("the cluster ran before these tests; they do not stop someone else's cluster")
    if real_cluster.is_up():
        pytest.skip("needs the machine free of clusters (the cluster-down test above runs first)")
    # containerd's sockets live under `.cluster/run`, and a unix socket path has at most 104 bytes: a short folder.
    other = Layout(Path(tempfile.mkdtemp(prefix="mlp-", dir="/tmp")) / ".cluster")
    try:
        _take_over_from_a_killed_cluster(real_cluster, clusters, other)
    finally:
        cluster_command("down", timeout=180, base=other.base)
        shutil.rmtree(other.base.parent, ignore_errors=True)


def _take_over_from_a_killed_cluster(real_cluster: RealCluster, clusters, other: Layout) -> None:
    started = cluster_command("up", "--node", "real", timeout=300, base=other.base)
    assert started.returncode == 0, started.stderr
    assert node_network.bridge_exists()
    # A running pod, so that the kill leaves what a real one does: its sandbox's mounts, veth and IP lease.
    kubectl = [str(binary("kubectl")), f"--kubeconfig={other.kubeconfig}"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "sandbox-only", "namespace": "default"},
        "spec": {
            "automountServiceAccountToken": False,
            "containers": [{"name": "pause", "image": PAUSE_IMAGE, "imagePullPolicy": "Never"}],
        },
    }
    # The namespace's default service account appears a moment after the control plane: retry until it does.
    deadline = time.monotonic() + 60
    while True:
        applied = subprocess.run([*kubectl, "apply", "-f", "-"], input=json.dumps(pod), capture_output=True, text=True)
        if applied.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert applied.returncode == 0, applied.stderr
    waited = subprocess.run(
        [*kubectl, "wait", "--for=condition=Ready", "pod/sandbox-only", "--timeout=60s"], capture_output=True, text=True
    )
    assert waited.returncode == 0, waited.stderr
    for pid in node_processes(other).values():
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while node_processes(other) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not node_processes(other), node_processes(other)
    assert node_network.bridge_exists() and host_cleanup.mounts_under(other.base), "the kill left nothing to clean"

    clusters.ensure("real")  # the project's own cluster, again: the rollout tests use it next
    assert f"the real node of {other.base} had died without its teardown" in clusters.last_output
    assert not host_cleanup.mounts_under(other.base)
    node = real_cluster.get("node", NODE_NAME)
    assert any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])

    # The dead clone's own `cluster-down` later removes its folder and leaves the new owner's node alone.
    stopped = cluster_command("down", timeout=180, base=other.base)
    assert stopped.returncode == 0, stopped.stderr
    assert not other.base.exists()
    assert node_network.bridge_exists(), "the dead clone's cluster-down removed the new owner's bridge"
    assert NodeClaim().owner() == real_cluster.layout.base.resolve()
