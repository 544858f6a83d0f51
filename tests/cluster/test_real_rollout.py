"""The dev stack through the real Pulumi engine onto the local cluster's real node: pods that run the model image,
probes that probe, an HPA that reads real CPU.

In order, on one project copy and its state: `pulumi up` serves the model's own predictions through the Service and
a pod turns Ready only after its warm-up; a version change under steady load fails no request; the HPA adds pods
under CPU load and removes them after the stack's (shortened) stabilization window; a canary's life under load
fails no request; a drain of a prod-shaped stack onto a second node fails no request either. Load goes from
loopback through bench/cluster_load.py's forwarder to the pods' own addresses on the bridges, never to another host.
"""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.cluster_load import Load, ServiceForwarder, example_rows, infer_body
from tests.cluster.predictions import assert_same_predictions
from tests.cluster.real_node_fixtures import cluster_command
from tools.cluster.layout import NODE_NAME, ROOT
from tools.scratch_project import Project

NAMESPACE = "ml-dev"
PROD_NAMESPACE = "ml-prod"
MODEL = "breast-cancer"
# The file the dev stack delivers (models/), not the one baked into the runtime image for bring-your-own-image.
MODEL_FILE = ROOT / "models" / f"{MODEL}.onnx"
SELECTOR = f"app.kubernetes.io/name={MODEL}"
# A few hundred requests a second at most, and every load ends by itself.
ROLLOUT_RATE = 60
HPA_RATE = 300
# The HPA reads CPU from metrics-server (a 15 s resolution) every 15 s: two periods and a margin to react.
SCALE_UP_TIMEOUT = 120
# The test's stabilization window, set through the stack's own config (autoscaling.scaleDown).
SCALE_DOWN_WINDOW = 15
SCALE_DOWN_TIMEOUT = 150


@pytest.fixture(scope="module")
def real_project(real_cluster_kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """A project copy deploying dev to the real node; its stack is destroyed at the end."""
    project = Project.create(tmp_path_factory.mktemp("real-rollout"), real_cluster_kubeconfig)

    def shorten_scale_down(config: dict[str, Any]) -> None:
        config["ml-platform:defaults"]["autoscaling"]["scaleDown"] = {
            "stabilizationWindowSeconds": SCALE_DOWN_WINDOW,
            "maxPercent": 100,
            "maxPods": 4,
            "periodSeconds": 15,
        }

    project.edit_stack("dev", shorten_scale_down)
    project.action("up", "dev")
    yield project
    project.action("destroy", "dev", check=False)


@pytest.fixture()
def forwarder(real_project: Project, real_cluster_kubeconfig: Path) -> Iterator[ServiceForwarder]:
    with ServiceForwarder(real_cluster_kubeconfig, NAMESPACE, MODEL) as forward:
        deadline = time.monotonic() + 30
        while not forward.endpoints and time.monotonic() < deadline:
            time.sleep(0.2)
        assert forward.endpoints, f"Service {MODEL} has no ready endpoint"
        yield forward


def pods(project: Project, namespace: str = NAMESPACE) -> list[dict[str, Any]]:
    return project.kube_json("pods", "-n", namespace, "-l", SELECTOR)["items"]


def timestamp(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value)


def ready_pods(project: Project, namespace: str = NAMESPACE) -> list[dict[str, Any]]:
    return [
        p
        for p in pods(project, namespace)
        if not p["metadata"].get("deletionTimestamp")
        and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
    ]


def test_up_serves_through_the_service_the_predictions_of_the_model_run_locally(real_project, forwarder):
    import httpx

    rows = example_rows(8)
    with httpx.Client(base_url=forwarder.url, timeout=10) as client:
        (model_input,) = client.get(f"/v2/models/{MODEL}").raise_for_status().json()["inputs"]
        response = client.post(
            f"/v2/models/{MODEL}/infer", json=infer_body(rows, model_input["name"], model_input["datatype"])
        )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["model_name"] == MODEL and result["model_version"] == "1.0.0"
    assert_same_predictions(result, MODEL_FILE, rows)


def test_a_pod_turns_ready_only_after_its_warm_up_as_the_probes_say(real_project):
    container = real_project.kube_json("deployment", MODEL, "-n", NAMESPACE)["spec"]["template"]["spec"]["containers"][
        0
    ]
    # Both gates ask the server's readiness endpoint, which answers 200 only once the warm-up prediction succeeded.
    assert container["startupProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    (pod,) = ready_pods(real_project)
    started = timestamp(pod["status"]["containerStatuses"][0]["state"]["running"]["startedAt"])
    ready = next(timestamp(c["lastTransitionTime"]) for c in pod["status"]["conditions"] if c["type"] == "Ready")
    logs = real_project.kubectl("logs", "-n", NAMESPACE, pod["metadata"]["name"]).stdout.splitlines()
    warmed = [json.loads(line) for line in logs if '"model ready"' in line]
    assert warmed, f"no 'model ready' line in the pod's log:\n{logs[:20]}"
    warmed_at = timestamp(warmed[0]["time"]) if "time" in warmed[0] else None
    # API times have a 1 s resolution: Ready is never before the container started, nor before the warm-up ended.
    assert ready >= started
    if warmed_at is not None:
        assert ready >= warmed_at.replace(microsecond=0)
    # And it came by the startup probe: within its period after the warm-up, not at the probes' give-up time.
    startup = container["startupProbe"]
    assert (ready - started).total_seconds() <= startup["periodSeconds"] * startup["failureThreshold"]


def test_a_version_change_under_steady_load_fails_no_request(real_project, forwarder):
    def bump(config: dict[str, Any]) -> None:
        config["ml-platform:models"][MODEL]["version"] = "1.0.1"

    real_project.edit_stack("dev", bump)
    load = Load(
        forwarder.url, MODEL, infer_body(example_rows(1)), workers=4, rate=ROLLOUT_RATE, max_seconds=170
    ).start()
    try:
        real_project.action("up", "dev")
        # Load until every ready pod runs 1.0.1 (the old one may still be in its preStop pause), then a little more.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            versions = {p["metadata"]["labels"]["app.kubernetes.io/version"] for p in ready_pods(real_project)}
            if versions == {"1.0.1"}:
                break
            time.sleep(0.5)
        time.sleep(3)
    finally:
        result = load.stop()
    assert result.ok > 0 and result.failed == 0, f"{result.failed} of {result.sent} failed: {result.failures}"
    assert result.versions.get("1.0.1"), f"no request was served by the new version: {result.versions}"


def test_the_hpa_adds_pods_under_cpu_load_and_removes_them_after_the_window(real_project, forwarder):
    hpa = real_project.kube_json("hpa", MODEL, "-n", NAMESPACE)
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == SCALE_DOWN_WINDOW
    floor = hpa["spec"]["minReplicas"]
    load = Load(
        forwarder.url, MODEL, infer_body(example_rows(256)), workers=6, rate=HPA_RATE, max_seconds=SCALE_UP_TIMEOUT + 30
    ).start()
    scaled_at = None
    try:
        deadline = time.monotonic() + SCALE_UP_TIMEOUT
        while time.monotonic() < deadline:
            if real_project.kube_json("hpa", MODEL, "-n", NAMESPACE)["status"].get("desiredReplicas", 0) > floor:
                scaled_at = time.monotonic()
                break
            time.sleep(1)
    finally:
        result = load.stop()
    assert scaled_at is not None, f"the HPA never asked for more than {floor} pod(s) under {result.sent} requests"
    deadline = time.monotonic() + SCALE_DOWN_TIMEOUT
    while time.monotonic() < deadline:
        if real_project.kube_json("deployment", MODEL, "-n", NAMESPACE)["spec"]["replicas"] == floor:
            break
        time.sleep(2)
    else:
        pytest.fail(f"the HPA did not come back to {floor} pod(s) within {SCALE_DOWN_TIMEOUT} s of the load's end")
    assert result.ok > 0


def test_a_canary_added_promoted_and_removed_under_load_fails_no_request(real_project, forwarder):
    model_image = real_project.outputs("dev")["models"][MODEL]["modelImage"]

    def add_canary(config: dict[str, Any]) -> None:
        config["ml-platform:models"][MODEL]["canary"] = {
            "version": "1.1.0",
            "model": {"image": model_image},
            "weight": 50,
        }

    def promote_canary(config: dict[str, Any]) -> None:
        model = config["ml-platform:models"][MODEL]
        canary = model.pop("canary")
        model["version"] = canary["version"]
        model["model"] = canary["model"]

    load = Load(
        forwarder.url, MODEL, infer_body(example_rows(1)), workers=4, rate=ROLLOUT_RATE, max_seconds=175
    ).start()
    try:
        real_project.edit_stack("dev", add_canary)
        real_project.action("up", "dev")
        real_project.edit_stack("dev", promote_canary)
        real_project.action("up", "dev")
        time.sleep(3)
    finally:
        result = load.stop()
    assert result.ok > 0 and result.failed == 0, f"{result.failed} of {result.sent} failed: {result.failures}"
    assert result.versions.get("1.1.0"), result.versions
    names = [d["metadata"]["name"] for d in real_project.kube_json("deployments", "-n", NAMESPACE)["items"]]
    # The canary's Deployment is gone; the model's own (and the stack's other models') stay.
    assert MODEL in names and f"{MODEL}-canary" not in names, names


@pytest.fixture()
def second_node(real_project: Project) -> Iterator[str]:
    """A second kubelet on this machine (`make cluster NODES=2`), removed again at the end."""
    added = cluster_command("up", "--nodes", "2", timeout=300)
    assert added.returncode == 0, added.stderr
    try:
        yield f"{NODE_NAME}-2"
    finally:
        real_project.kubectl("uncordon", NODE_NAME, check=False)
        removed = cluster_command("up", "--nodes", "1", timeout=300)
        assert removed.returncode == 0, removed.stderr


def test_a_drain_of_a_prod_shaped_stack_respects_the_pdb_and_fails_no_request(
    real_project: Project, real_cluster_kubeconfig: Path, second_node: str
):
    """prod, promoted from dev and sized for this machine (2 pods, one per node, a PDB of maxUnavailable 1): a
    drain of the first node moves its pod to the second under load, one at a time, and no request fails."""
    promoted = real_project.promote("dev", "prod")
    assert promoted.returncode == 0, promoted.stderr

    def fit_this_machine(config: dict[str, Any]) -> None:
        # Production's rules (digests, spread over nodes, PDB) with what two 2-CPU nodes hold: one model, 2 pods.
        config["ml-platform:models"] = {MODEL: config["ml-platform:models"][MODEL]}
        config["ml-platform:defaults"]["replicas"] = {"min": 2, "max": 2}
        config["ml-platform:defaults"]["resources"] = {"cpu": "250m", "memory": "256Mi"}

    real_project.edit_stack("prod", fit_this_machine)
    real_project.action("up", "prod")
    try:
        pdb = real_project.kube_json("pdb", MODEL, "-n", PROD_NAMESPACE)
        assert pdb["spec"]["maxUnavailable"] == 1
        placed = {p["spec"]["nodeName"] for p in pods(real_project, PROD_NAMESPACE)}
        assert placed == {NODE_NAME, second_node}, f"prod's pods are not spread over both nodes: {placed}"

        with ServiceForwarder(real_cluster_kubeconfig, PROD_NAMESPACE, MODEL) as forward:
            fewest: list[int] = []
            forward.observers.append(lambda _, endpoints: fewest.append(len(endpoints)))
            load = Load(
                forward.url, MODEL, infer_body(example_rows(1)), workers=4, rate=ROLLOUT_RATE, max_seconds=170
            ).start()
            try:
                drained = real_project.kubectl(
                    "drain", NODE_NAME, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=150s", check=False
                )
                # Until the moved pod serves from the second node, and a little more.
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    serving = ready_pods(real_project, PROD_NAMESPACE)
                    if len(serving) == 2 and {p["spec"]["nodeName"] for p in serving} == {second_node}:
                        break
                    time.sleep(0.5)
                time.sleep(3)
            finally:
                result = load.stop()
        assert drained.returncode == 0, drained.stderr
        assert f"evicting pod {PROD_NAMESPACE}/" in drained.stdout + drained.stderr
        serving = ready_pods(real_project, PROD_NAMESPACE)
        assert [p["spec"]["nodeName"] for p in serving] == [second_node] * 2, "the drained pod did not move"
        assert result.ok > 0 and result.failed == 0, f"{result.failed} of {result.sent} failed: {result.failures}"
        # maxUnavailable 1 of 2: a pod always served while the other moved.
        assert fewest and min(fewest) >= 1, f"the Service had no ready endpoint during the drain: {min(fewest)}"
    finally:
        real_project.action("destroy", "prod", check=False)
