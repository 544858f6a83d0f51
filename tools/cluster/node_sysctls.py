"""The kernel settings the kubelet changes on start, saved before its first start and put back when the node stops.

The kubelet (1.34, protectKernelDefaults false) sets vm.overcommit_memory=1, kernel.panic_on_oops=1, kernel.panic=10
and the root key quotas on the host; with protectKernelDefaults true it refuses to start instead. A throwaway
cluster must not leave a developer's machine set to panic on an oops, so the values are restored at teardown.
"""

from __future__ import annotations

import json
from pathlib import Path

PROC_SYS = Path("/proc/sys")
# pkg/kubelet/cm/container_manager_linux.go: setupKernelTunables.
KUBELET_SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)


def save(snapshot: Path) -> None:
    """Records the current values, unless a snapshot exists (then the kubelet may have changed them already)."""
    if snapshot.exists():
        return
    values = {}
    for name in KUBELET_SYSCTLS:
        try:
            values[name] = (PROC_SYS / name).read_text().strip()
        except OSError:
            continue
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    snapshot.write_text(json.dumps(values, indent=2) + "\n")


def restore(snapshot: Path) -> list[str]:
    """Writes the saved values back; returns the names it could not restore. The snapshot is removed."""
    try:
        values = json.loads(snapshot.read_text())
    except (OSError, ValueError):
        return []
    failed = []
    for name, value in values.items():
        path = PROC_SYS / name
        try:
            if path.read_text().strip() != value:
                path.write_text(value + "\n")
        except OSError:
            failed.append(name)
    snapshot.unlink(missing_ok=True)
    return failed
