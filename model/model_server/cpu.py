"""How many CPUs this process may use: the CPU affinity mask, capped by the cgroup v2 CPU quota.

A container given `cpu: 1` on a 64-core node still sees 64 CPUs in `os.cpu_count()`; the quota in
`/sys/fs/cgroup/cpu.max` is what it may actually use, so thread pools are sized from that.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def cgroup_cpu_limit(cpu_max_file: Path = CGROUP_CPU_MAX) -> float | None:
    """Return the cgroup v2 CPU quota in CPUs (e.g. 1.5), or None when unlimited or unreadable."""
    try:
        quota, period = cpu_max_file.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None


def available_cpus(cpu_max_file: Path = CGROUP_CPU_MAX) -> int:
    """CPUs this process may run on: the affinity mask's size, capped by the quota rounded up; at least 1."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    limit = cgroup_cpu_limit(cpu_max_file)
    if limit is not None:
        cpus = min(cpus, math.ceil(limit))
    return max(1, cpus)
