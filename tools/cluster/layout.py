"""Where the local cluster lives: every path and port in one place.

Everything is under `.cluster/` in the project (git-ignored): PKI, etcd's data, logs, pid files and the kubeconfig.
`make cluster-down` removes the folder. The ports are loopback-only; each is checked free before anything starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# `make toolchain` builds into .toolchain/bin; ML_PLATFORM_TOOLCHAIN_BIN points elsewhere (a shared build, a test).
TOOLCHAIN_BIN = Path(os.environ.get("ML_PLATFORM_TOOLCHAIN_BIN") or ROOT / ".toolchain" / "bin")

# Loopback only: nothing here is reachable from another machine.
HOST = "127.0.0.1"
NODE_NAME = "ml-platform-node"
# The Service network exists only inside the cluster (kube-proxy's rules on a real node); no traffic leaves the host.
SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"
CLUSTER_DOMAIN = "cluster.local"


@dataclass(frozen=True)
class Ports:
    """The loopback ports the control plane listens on."""

    etcd_client: int = 23790
    etcd_peer: int = 23800
    apiserver: int = 6443
    controller_manager: int = 10257
    scheduler: int = 10259
    kwok: int = 10247


@dataclass(frozen=True)
class Layout:
    """The files of one local cluster rooted at `base` (the project's `.cluster/`)."""

    base: Path

    @property
    def pki(self) -> Path:
        return self.base / "pki"

    @property
    def etcd_data(self) -> Path:
        return self.base / "etcd"

    @property
    def logs(self) -> Path:
        return self.base / "logs"

    @property
    def run(self) -> Path:
        return self.base / "run"

    @property
    def kubeconfigs(self) -> Path:
        return self.base / "kubeconfigs"

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig users and tests point KUBECONFIG at."""
        return self.base / "kubeconfig"

    @property
    def node_kind_file(self) -> Path:
        """Records which node the running cluster has (`kwok` or `real`)."""
        return self.base / "node"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def pidfile(self, name: str) -> Path:
        return self.run / f"{name}.pid"


def default_layout() -> Layout:
    """The project's `.cluster/`, or ML_PLATFORM_CLUSTER_DIR (a test's second cluster, which runs only after the
    first has stopped: the ports are the same)."""
    return Layout(Path(os.environ.get("ML_PLATFORM_CLUSTER_DIR") or ROOT / ".cluster").resolve())


def binary(name: str) -> Path:
    """A toolchain binary (`make toolchain` builds them into .toolchain/bin)."""
    return TOOLCHAIN_BIN / name
