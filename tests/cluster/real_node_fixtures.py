"""Fixtures for tests on the local cluster's real node: the cluster itself, and the model image in the local registry.

`real_cluster` starts `python -m tools.cluster up --node real` only when no cluster runs, and stops it at the end
only if it started it; a cluster someone left running is used as it is (a kwok one is skipped). Where no real
node can run (not root, no containerd, no kubelet in the toolchain...) the tests skip with the reason, except in
CI (CI=true), where .ci/provision and `make toolchain` must have provided everything: there it is a failure.

Import the fixtures into a test module: `from tests.cluster.real_node_fixtures import real_cluster, model_image`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tools.cluster import builder, control_plane, host_cleanup, node_sysctls, real_node
from tools.cluster.__main__ import REQUIRED_BINARIES
from tools.cluster.layout import ROOT, Layout, binary, default_layout
from tools.cluster.node_layout import NodeLayout
from tools.cluster.processes import ClusterError, running_pid
from tools.cluster.session import ClusterSession

REGISTRY = "127.0.0.1:5000"
REPOSITORY = f"{REGISTRY}/ml-platform/model-server"
# `up` may build and push the local base image on a fresh machine: minutes, not hours.


def unavailable(reason: str) -> None:
    """Skip on a developer's machine; fail under .ci/run, where provision and the toolchain must provide a real node."""
    if os.environ.get("ML_PLATFORM_REQUIRE_CLUSTER") == "1":
        pytest.fail(f"no real node can run: {reason}; in CI .ci/provision and `make toolchain` should provide it")
    pytest.skip(f"no real node can run here: {reason}")


@dataclass
class RealCluster:
    """The local cluster with a real node, and what the tests measured on it (printed at the end of the session)."""

    layout: Layout
    started_here: bool
    measured: dict[str, str] = field(default_factory=dict)
    # The kernel settings the kubelet changes, as they were before the cluster started (if it started here).
    sysctls_before: dict[str, str] = field(default_factory=dict)
    # The shared host folders containerd's shims and the CNI library create, and whether they existed before.
    host_dirs_before: dict[Path, bool] = field(default_factory=dict)

    @property
    def kubeconfig(self) -> Path:
        return self.layout.kubeconfig

    def kubectl(
        self, *args: str, input: str | None = None, timeout: float = 60, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        command = [str(binary("kubectl")), f"--kubeconfig={self.kubeconfig}", *args]
        result = subprocess.run(command, input=input, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            pytest.fail(
                f"kubectl {' '.join(args)} exited {result.returncode}: "
                f"{(result.stderr or result.stdout).strip()[-600:]}"
            )
        return result

    def apply(self, obj: dict[str, Any]) -> None:
        self.kubectl("apply", "-f", "-", input=json.dumps(obj))

    def get(self, *args: str) -> dict[str, Any]:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def is_up(self) -> bool:
        return self.layout.node_kind_file.exists()


def cluster_command(*args: str, timeout: float, base: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m tools.cluster ...` on the project's cluster, or on the one whose `.cluster/` is `base`."""
    env = {**os.environ, "ML_PLATFORM_CLUSTER_DIR": str(base)} if base else None
    return subprocess.run(
        [sys.executable, "-m", "tools.cluster", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def _print_measured(config: pytest.Config, measured: dict[str, str]) -> None:
    """Writes the figures to the terminal, past pytest's capture of fixture output (no conftest hook needed)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None or not measured:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_sep("-", "real node (measured)")
        for what, value in measured.items():
            reporter.write_line(f"{what}: {value}")


@pytest.fixture(scope="session")
def real_cluster(pytestconfig: pytest.Config, clusters: ClusterSession) -> Iterator[RealCluster]:
    """The local cluster with a real node, through the session's cluster (which switches a kwok one it started)."""
    can_run, reason = real_node.machine_allows_real_node()
    if not can_run:
        unavailable(reason)
    missing = [name for name in (*REQUIRED_BINARIES, "kubectl") if not binary(name).is_file()]
    if missing:
        unavailable(f"the toolchain lacks {', '.join(missing)} (run `make toolchain`)")
    try:
        httpx.get(f"http://{REGISTRY}/v2/", timeout=3).raise_for_status()
    except httpx.HTTPError as error:
        unavailable(f"no registry answers on {REGISTRY} ({error}); `bash .ci/provision` starts it")

    layout = default_layout()
    running_kind = layout.node_kind_file.read_text().strip() if layout.node_kind_file.exists() else None
    cluster = RealCluster(
        layout=layout,
        # Started by this session: from nothing, switched from kwok, or by an earlier module (clusters.started).
        started_here=running_kind != "real" or clusters.started,
        sysctls_before=host_sysctls(),
        host_dirs_before={d: d.exists() for d in host_cleanup.HOST_DIRS},
    )
    started = time.monotonic()
    try:
        clusters.ensure("real")
    except ClusterError as error:
        if "runs already" in str(error):
            pytest.skip(str(error))
        pytest.fail(str(error))
    if running_kind != "real":
        cluster.measured["cluster up, from nothing"] = f"{time.monotonic() - started:.1f} s"
    if cluster.started_here:
        # An earlier module may have started the node: what the host had before is what the node recorded then.
        node = NodeLayout(layout)
        if node.sysctl_snapshot.exists():
            cluster.sysctls_before.update(json.loads(node.sysctl_snapshot.read_text()))
        if node.host_dirs_record.exists():
            created = set(json.loads(node.host_dirs_record.read_text()))
            cluster.host_dirs_before.update({d: str(d) not in created for d in host_cleanup.HOST_DIRS})
    ready = re.search(r"Ready ([\d.]+) s after the kubelet started", clusters.last_output)
    if ready:
        cluster.measured["node Ready after the kubelet started"] = f"{ready.group(1)} s"
    yield cluster
    _print_measured(pytestconfig, cluster.measured)


@pytest.fixture(scope="session")
def model_image(real_cluster: RealCluster) -> str:
    """The model server image in the local registry, as `<repository>@sha256:...` (what a stack deploys)."""
    from tools.docker.build import BuildError, ImageBuild, build_image, docker_client, git_metadata

    base = os.environ.get("E2E_BASE_IMAGE")
    if not base:
        script = ROOT / "tools" / "docker" / "base-image.sh"
        built = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=900)
        if built.returncode != 0:
            unavailable(f"no local base image could be built: {built.stderr.strip()[-300:]}")
        base = built.stdout.strip().splitlines()[-1]
    tag = f"{REPOSITORY}:real-node-{uuid.uuid4().hex[:8]}"
    # pip in the build trusts this machine's CA bundle (a TLS-intercepting proxy's CA, where there is one).
    ca_file = Path(os.environ.get("E2E_CA_FILE", "/etc/ssl/certs/ca-certificates.crt"))
    labels = git_metadata()
    build = ImageBuild(
        tag=tag,
        base_image=base,
        ca_file=ca_file if ca_file.is_file() else None,
        version=labels.get("version", "0.0.0-dev"),
        revision=labels.get("revision", "unknown"),
        created=labels.get("created", "unknown"),
    )
    try:
        build_image(build, quiet=True)
    except BuildError as error:
        pytest.fail(str(error))
    docker = docker_client()
    subprocess.run([docker, "push", "--quiet", tag], check=True, capture_output=True, timeout=300)
    digests = json.loads(
        subprocess.run(
            [docker, "image", "inspect", "--format", "{{json .RepoDigests}}", tag],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    subprocess.run([docker, "image", "rm", tag], capture_output=True)
    return next(d for d in digests if d.startswith(f"{REPOSITORY}@sha256:"))


def host_sysctls() -> dict[str, str]:
    return {
        name: (node_sysctls.PROC_SYS / name).read_text().strip()
        for name in node_sysctls.KUBELET_SYSCTLS
        if (node_sysctls.PROC_SYS / name).exists()
    }


def node_processes(layout: Layout) -> dict[str, int]:
    """The running daemons of the cluster (control plane, builder and node) by name, with their pids."""
    names = [*control_plane.COMPONENTS, builder.BUILDKITD, *real_node.COMPONENTS]
    return {name: pid for name in names if (pid := running_pid(layout, name)) is not None}
