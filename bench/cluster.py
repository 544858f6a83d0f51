"""`make bench-cluster`: the dev stack on the local cluster's real node, measured where pods really run.

(a) Deployment time: from the start of `pulumi up` with a new version to every ready pod behind the Service running
    it, median of `--repeat` (3), split into the image step (build and push, the duration the CLI prints), the
    engine before the rollout (program, plugins, diff), the rollout (the Deployment's new template to every ready
    endpoint on the new version), and what the provider's await adds after that; with steady load meanwhile and
    its failed requests. Also the issue's own measure: from the image step's end (the push, as the CLI reports
    it) to every ready endpoint on the new version, which leaves out the preview that runs before the build.
(b) The HPA under a load step: seconds from the step to the HPA asking for more pods, and to the first added pod
    Ready, and the request success rate meanwhile.
(c) Utilization at steady load: predictions per CPU-second the pods used (their cgroups' cpuacct), and the CPU
    used against the CPU the stack reserves (requests x pods x seconds).

A printed table and build/bench/cluster.json (dated, with the machine). Load goes from loopback to the pods'
own bridge addresses through bench/cluster_load.py's forwarder, never to another host.

    python -m bench.cluster [--repeat 3]
"""

# Over 300 lines on purpose: three measurements (a version change, a load step, steady load) of one cluster
# session, sharing its setup and its table.

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.cluster_load import Load, ServiceForwarder, example_rows, infer_body
from bench.engine import image_seconds
from bench.report import write_report
from tools.cluster.layout import TOOLCHAIN_BIN
from tools.cluster.processes import ClusterError
from tools.cluster.session import ClusterSession
from tools.deploy import pulumi_args
from tools.scratch_project import Project

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "build" / "bench" / "cluster.json"
NAMESPACE = "ml-dev"
MODEL = "breast-cancer"
VERSION_LABEL = "app.kubernetes.io/version"
POLL_SECONDS = 0.2
DEPLOY_TIMEOUT = 300
# Light load during a version change; a step well past one pod's 250m for the HPA; a steady load below the
# HPA's 70 % target for utilization (so the pod count stays put while it is measured).
ROLLOUT_RATE = 40
STEP_RATE = 300
STEP_ROWS = 256
STEP_TIMEOUT = 120
STEADY_RATE = 40
STEADY_SECONDS = 30
CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass
class Deploy:
    """One version change, timed (seconds from the start of `pulumi up`)."""

    version: str
    total_s: float  # to every ready endpoint on the new version
    image_s: float | None
    engine_s: float  # before the rollout began, less the image step
    rollout_s: float  # the Deployment's new template to every ready endpoint on the new version
    after_push_s: float | None  # from the image step's end (the push) to every ready endpoint on the new version
    await_extra_s: float  # what `pulumi up` took after that
    requests: int
    failed: int


@dataclass
class HpaStep:
    seconds_to_scale_decision: float | None
    seconds_to_added_pod_ready: float | None
    requests: int
    success_rate: float


@dataclass
class Utilization:
    seconds: float
    pods: int
    predictions: int
    cpu_seconds_used: float
    cpu_seconds_reserved: float
    predictions_per_cpu_second: float
    used_of_reserved: float


def pod_state(forwarder: ServiceForwarder) -> tuple[str | None, set[str]]:
    """The Deployment's template version, and the versions of the pods behind the Service's ready endpoints."""
    proxy = forwarder.proxy
    deployment = proxy.get(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{MODEL}")
    template = deployment["spec"]["template"]["metadata"]["labels"].get(VERSION_LABEL)
    pods = proxy.get(f"/api/v1/namespaces/{NAMESPACE}/pods", labelSelector=f"app.kubernetes.io/name={MODEL}")
    version_of = {p["metadata"]["name"]: p["metadata"]["labels"].get(VERSION_LABEL) for p in pods["items"]}
    serving = {version_of.get(e.pod) or "?" for e in forwarder.endpoints}
    return template, serving


def deploy(project: Project, forwarder: ServiceForwarder, version: str) -> Deploy:
    def bump(config: dict[str, Any]) -> None:
        config["ml-platform:models"][MODEL]["version"] = version

    project.edit_stack("dev", bump)
    project.pulumi("stack", "select", "dev")
    outcome: dict[str, Any] = {}

    def up() -> None:
        # Streamed, so that the moment the CLI reports the image step done (pushed) is known to the 0.1 s.
        command = [str(TOOLCHAIN_BIN / "pulumi"), *pulumi_args("up", "dev", [], project_dir=project.path)]
        process = subprocess.Popen(
            command, cwd=project.path, env=project.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "pushed" not in outcome and image_seconds(line) is not None:
                outcome["pushed"] = time.monotonic()
        outcome["result"] = subprocess.CompletedProcess(command, process.wait(), "".join(lines), "")
        outcome["end"] = time.monotonic()

    load = Load(
        forwarder.url, MODEL, infer_body(example_rows(1)), workers=2, rate=ROLLOUT_RATE, max_seconds=DEPLOY_TIMEOUT
    ).start()
    start = time.monotonic()
    engine = threading.Thread(target=up)
    engine.start()
    rollout_start = served = None
    deadline = start + DEPLOY_TIMEOUT
    while time.monotonic() < deadline and (served is None or engine.is_alive()):
        template, serving = pod_state(forwarder)
        now = time.monotonic()
        if rollout_start is None and template == version:
            rollout_start = now
        if served is None and rollout_start is not None and serving == {version}:
            served = now
        time.sleep(POLL_SECONDS)
    engine.join(DEPLOY_TIMEOUT)
    time.sleep(2)
    result = load.stop()
    completed = outcome.get("result")
    if completed is None or completed.returncode != 0:
        raise RuntimeError(f"pulumi up of {version} failed: {(completed.stdout if completed else '')[-1500:]}")
    if rollout_start is None or served is None:
        raise RuntimeError(f"version {version} was never served by every ready pod within {DEPLOY_TIMEOUT} s")
    image = image_seconds(completed.stdout)
    return Deploy(
        version=version,
        total_s=round(served - start, 1),
        image_s=image,
        engine_s=round(rollout_start - start - (image or 0), 1),
        rollout_s=round(served - rollout_start, 1),
        after_push_s=round(served - outcome["pushed"], 1) if "pushed" in outcome else None,
        await_extra_s=round(max(0.0, outcome["end"] - served), 1),
        requests=result.sent,
        failed=result.failed,
    )


def hpa_step(project: Project, forwarder: ServiceForwarder) -> HpaStep:
    floor = project.kube_json("hpa", MODEL, "-n", NAMESPACE)["spec"]["minReplicas"]
    load = Load(
        forwarder.url,
        MODEL,
        infer_body(example_rows(STEP_ROWS)),
        workers=8,
        rate=STEP_RATE,
        max_seconds=STEP_TIMEOUT + 5,
    ).start()
    start = time.monotonic()
    decided = ready = None
    try:
        while time.monotonic() < start + STEP_TIMEOUT and ready is None:
            status = forwarder.proxy.get(
                f"/apis/autoscaling/v2/namespaces/{NAMESPACE}/horizontalpodautoscalers/{MODEL}"
            )["status"]
            now = time.monotonic()
            if decided is None and status.get("desiredReplicas", 0) > floor:
                decided = now
            if decided is not None and len(forwarder.endpoints) > floor:
                ready = now
            time.sleep(0.5)
    finally:
        result = load.stop()
    return HpaStep(
        seconds_to_scale_decision=round(decided - start, 1) if decided else None,
        seconds_to_added_pod_ready=round(ready - start, 1) if ready else None,
        requests=result.sent,
        success_rate=round(result.success_rate, 4),
    )


def pod_cpu_seconds(uids: list[str]) -> float:
    """The CPU the pods' cgroups used so far (cgroup v1 cpuacct, the kubelet's cgroupfs layout)."""
    total = 0
    for uid in uids:
        found = list(CGROUP_ROOT.glob(f"cpu*/kubepods*/**/pod{uid}/cpuacct.usage"))
        if not found:
            raise RuntimeError(f"no cpuacct cgroup for pod {uid} under {CGROUP_ROOT}")
        total += int(found[0].read_text())
    return total / 1e9


def utilization(project: Project, forwarder: ServiceForwarder) -> Utilization:
    # Measured before the HPA step, on the pods the last version change left (the terminating ones excluded).
    pods = [
        p
        for p in project.kube_json("pods", "-n", NAMESPACE, "-l", f"app.kubernetes.io/name={MODEL}")["items"]
        if not p["metadata"].get("deletionTimestamp")
    ]
    uids = [p["metadata"]["uid"] for p in pods]
    cpu_request = sum(_cores(p["spec"]["containers"][0]["resources"]["requests"]["cpu"]) for p in pods)
    before = pod_cpu_seconds(uids)
    load = Load(
        forwarder.url, MODEL, infer_body(example_rows(1)), workers=2, rate=STEADY_RATE, max_seconds=STEADY_SECONDS
    ).start()
    time.sleep(STEADY_SECONDS)
    result = load.stop()
    used = pod_cpu_seconds(uids) - before
    reserved = cpu_request * result.seconds
    return Utilization(
        seconds=result.seconds,
        pods=len(pods),
        predictions=result.ok,
        cpu_seconds_used=round(used, 2),
        cpu_seconds_reserved=round(reserved, 2),
        predictions_per_cpu_second=round(result.ok / used, 1),
        used_of_reserved=round(used / reserved, 3),
    )


def _cores(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def run(repeat: int) -> dict[str, Any]:
    session = ClusterSession()
    try:
        kubeconfig = session.ensure("real")
        with tempfile.TemporaryDirectory() as tmp:
            project = Project.create(Path(tmp), kubeconfig)
            project.action("up", "dev")
            try:
                with ServiceForwarder(kubeconfig, NAMESPACE, MODEL) as forwarder:
                    deploys = [deploy(project, forwarder, f"1.0.{i + 1}") for i in range(repeat)]
                    steady = utilization(project, forwarder)
                    step = hpa_step(project, forwarder)
            finally:
                project.action("destroy", "dev", check=False)
            return {"deploys": deploys, "utilization": steady, "hpa_step": step}
    finally:
        session.close()


def print_table(measured: dict[str, Any]) -> None:
    deploys: list[Deploy] = measured["deploys"]

    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    print(
        f"{'version change':<16}{'total s':>9}{'image s':>9}{'engine s':>10}{'rollout s':>11}{'await+ s':>10}"
        f"{'push->served s':>16}{'requests':>10}{'failed':>8}"
    )
    for d in deploys:
        print(
            f"{d.version:<16}{cell(d.total_s):>9}{cell(d.image_s):>9}{cell(d.engine_s):>10}{cell(d.rollout_s):>11}"
            f"{cell(d.await_extra_s):>10}{cell(d.after_push_s):>16}{d.requests:>10}{d.failed:>8}"
        )
    median = measured["deploy_median"]
    print(
        f"{'median':<16}{cell(median['total_s']):>9}{cell(median['image_s']):>9}{cell(median['engine_s']):>10}"
        f"{cell(median['rollout_s']):>11}{cell(median['await_extra_s']):>10}{cell(median['after_push_s']):>16}"
    )
    step: HpaStep = measured["hpa_step"]
    print(
        f"\nHPA load step: scale decision after {cell(step.seconds_to_scale_decision)} s, added pod Ready after "
        f"{cell(step.seconds_to_added_pod_ready)} s; {step.requests} requests, {step.success_rate:.2%} succeeded"
    )
    use: Utilization = measured["utilization"]
    print(
        f"Steady load ({use.seconds:.0f} s, {use.pods} pod(s)): {use.predictions} predictions, "
        f"{use.cpu_seconds_used:.2f} CPU-s used of {use.cpu_seconds_reserved:.2f} reserved "
        f"({use.used_of_reserved:.0%}); {use.predictions_per_cpu_second:.0f} predictions per CPU-second"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="version changes to time (default 3; the median)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    try:
        measured = run(args.repeat)
    except (ClusterError, AssertionError, RuntimeError) as error:
        print(f"bench-cluster: {error}", file=sys.stderr)
        return 1
    deploys: list[Deploy] = measured["deploys"]
    measured["deploy_median"] = {
        key: (
            statistics.median(values)
            if (values := [getattr(d, key) for d in deploys if getattr(d, key) is not None])
            else None
        )
        for key in ("total_s", "image_s", "engine_s", "rollout_s", "await_extra_s", "after_push_s")
    }
    print_table(measured)
    write_report(
        OUT,
        deploys=[asdict(d) for d in deploys],
        deploy_median=measured["deploy_median"],
        hpa_step=asdict(measured["hpa_step"]),
        utilization=asdict(measured["utilization"]),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
