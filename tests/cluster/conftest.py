"""Fixtures for the tests that run the real engine on the local cluster (tools/cluster).

They need the toolchain (`make toolchain`), root, and the Docker engine with the local registry (`.ci/provision`);
`.ci/run` provides all three, elsewhere they skip with the reason. A cluster the tests start is stopped at the end
of the session; one that was already running (`make cluster`) is used and left running.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.real_node_fixtures import model_image, real_cluster  # noqa: F401 - fixtures, found here by pytest
from tools.cluster.layout import ROOT, TOOLCHAIN_BIN
from tools.cluster.processes import ClusterError
from tools.cluster.session import ClusterSession
from tools.scratch_project import Project

ENGINE_BINARIES = ("pulumi", "pulumi-language-python", "pulumi-resource-kubernetes", "pulumi-resource-docker-build")
CLUSTER_BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kwok",
    "buildkitd",
    "docker-buildx",
)


def missing_prerequisite() -> str | None:
    """Why the cluster tests cannot run here, or None."""
    missing = [name for name in (*ENGINE_BINARIES, *CLUSTER_BINARIES) if not (TOOLCHAIN_BIN / name).exists()]
    if missing:
        return f"the toolchain lacks {', '.join(missing)} (run `make toolchain`)"
    if os.geteuid() != 0:
        return "the local cluster's image builder (buildkitd) needs root"
    try:
        urllib.request.urlopen("http://127.0.0.1:5000/v2/", timeout=2).close()
    except OSError:
        return "no local registry on 127.0.0.1:5000 (run `bash .ci/provision`)"
    if not (ROOT / "policy" / ".venv" / "bin" / "python").exists():
        return "the policy pack's venv is missing (run `make policy/.venv/.installed`)"
    return None


@pytest.fixture(scope="session")
def clusters() -> Iterator[ClusterSession]:
    """The session's local cluster; each module asks for the node kind it needs (`clusters.ensure(kind)`)."""
    reason = missing_prerequisite()
    if reason:
        # .ci/run provides everything and says so: there a missing piece is a failure, not a skip. (Other CIs, such
        # as the pull-request workflow's runner, have no toolchain: there these tests skip.)
        if os.environ.get("ML_PLATFORM_REQUIRE_CLUSTER") == "1":
            pytest.fail(f"CI must run the cluster tests, but {reason}")
        pytest.skip(reason)
    session = ClusterSession()
    yield session
    session.close()


def cluster_of_kind(clusters: ClusterSession, kind: str) -> Path:
    try:
        return clusters.ensure(kind)
    except ClusterError as error:
        if "runs already" in str(error):
            pytest.skip(str(error))
        raise


@pytest.fixture(scope="module")
def kwok_cluster(clusters: ClusterSession) -> Path:
    """The kubeconfig of a local cluster with a kwok node (pods are scheduled and marked ready, not run)."""
    return cluster_of_kind(clusters, "kwok")


@pytest.fixture(scope="module")
def real_cluster_kubeconfig(clusters: ClusterSession) -> Path:
    """The kubeconfig of a local cluster with a real node (containerd, the kubelet, kube-proxy, metrics-server)."""
    return cluster_of_kind(clusters, "real")


@pytest.fixture(scope="module")
def project(kwok_cluster: Path, tmp_path_factory: pytest.TempPathFactory) -> Project:
    """A copy of the project with its own state backend, deploying to the kwok cluster."""
    return Project.create(tmp_path_factory.mktemp("engine"), kwok_cluster)
