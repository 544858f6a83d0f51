"""A local cluster for one session of tests or benchmarks: started with the node kind asked for, stopped at the end
only if this session started it (a cluster someone started with `make cluster` is used and left running)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tools.cluster.layout import ROOT, default_layout
from tools.cluster.processes import ClusterError


class ClusterSession:
    """Starts the local cluster with a given node kind on demand; `close()` stops what it started."""

    def __init__(self) -> None:
        self.layout = default_layout()
        self.started = False
        self.last_output = ""  # what the last `up` printed (its timings)

    def _cluster(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tools.cluster", *args], cwd=ROOT, capture_output=True, text=True)

    def running_kind(self) -> str | None:
        """The node kind of the running cluster, or None when none runs."""
        if self._cluster("status").returncode != 0 or not self.layout.node_kind_file.exists():
            return None
        return self.layout.node_kind_file.read_text().strip()

    def ensure(self, kind: str) -> Path:
        """The kubeconfig of a running cluster with a `kind` node; raises ClusterError if another kind runs that
        this session did not start, or if the cluster does not start."""
        running = self.running_kind()
        if running not in (None, kind):
            if not self.started:
                raise ClusterError(f"a {running} cluster runs already (not started here); `make cluster-down` first")
            self.close()
        if running != kind:
            self.started = True
        result = self._cluster("up", "--node", kind)
        self.last_output = result.stdout
        if result.returncode != 0:
            raise ClusterError(f"make cluster NODE={kind} failed: {result.stderr.strip() or result.stdout.strip()}")
        return self.layout.kubeconfig

    def close(self) -> None:
        if self.started:
            result = self._cluster("down")
            if result.returncode != 0:
                raise ClusterError(f"make cluster-down failed: {result.stderr.strip()}")
            self.started = False
