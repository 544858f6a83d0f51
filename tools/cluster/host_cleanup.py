"""Undoing what a real node leaves on the host after its processes stop: mounts under `.cluster/`, pod cgroups,
and the two host folders its tools insist on.

The kubelet mounts a tmpfs per projected volume (service-account tokens), containerd an overlay per container
rootfs, a shm per sandbox and a network namespace per pod, all under `.cluster/`; none goes away when the daemons
exit. The kubelet's cgroupfs driver leaves the (empty) `kubepods` tree in every cgroup hierarchy. containerd's
shims put their sockets in /run/containerd/s whatever the instance's state folder, and the CNI library its cache
in /var/lib/cni (containerd 1.6 offers no setting for either): those are removed once empty, if the node made them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import re
from pathlib import Path

MNT_DETACH = 2
CGROUP_ROOT = Path("/sys/fs/cgroup")
KUBEPODS = "kubepods"
# Parents before children: the order they are created in.
HOST_DIRS = (Path("/run/containerd"), Path("/run/containerd/s"), Path("/var/lib/cni"), Path("/var/lib/cni/results"))

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _unescape(path: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


def mounts_under(base: Path) -> list[Path]:
    """Mount points at or below `base`, most recent first (the order to unmount them in)."""
    prefix = str(base.resolve())
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = _unescape(line.split()[4])
        if point == prefix or point.startswith(prefix + "/"):
            found.append(Path(point))
    return list(reversed(found))


def unmount_under(base: Path) -> list[str]:
    """Unmounts everything at or below `base`; returns the mount points that could not be unmounted, with why."""
    # Stacked mounts on one point need one unmount each; a few rounds cover them without looping forever.
    failed: dict[Path, str] = {}
    for _ in range(5):
        points = mounts_under(base)
        if not points:
            return []
        for point in points:
            # A plain unmount first; a busy one is detached (it goes once its last user does).
            if _libc.umount2(str(point).encode(), 0) != 0 and _libc.umount2(str(point).encode(), MNT_DETACH) != 0:
                failed[point] = os.strerror(ctypes.get_errno())
    return [f"{point}: {failed.get(point, 'still mounted')}" for point in mounts_under(base)]


def remove_kubepods_cgroups(root: Path = CGROUP_ROOT, tree_name: str = KUBEPODS) -> list[str]:
    """Removes a kubelet's cgroup tree (`kubepods`, or node 2's root) from every hierarchy; returns those in use."""
    left = []
    for hierarchy in root.iterdir() if root.is_dir() else ():
        tree = hierarchy / tree_name
        if not tree.is_dir():
            continue
        # Leaves first: a cgroup can only be removed once its children are.
        for directory, _, _ in sorted(os.walk(tree), key=lambda entry: entry[0].count("/"), reverse=True):
            try:
                os.rmdir(directory)
            except OSError as error:
                left.append(f"{directory}: {error.strerror}")
    return left


def create_cgroup_root(name: str, root: Path = CGROUP_ROOT) -> None:
    """Creates the cgroup `name` ("/ml-platform-node-2") in every hierarchy: a kubelet's `cgroupRoot` must exist.

    In cgroup v1 a new cpuset has no CPUs or memory nodes until given its parent's, and no task could join it.
    """
    for hierarchy in root.iterdir() if root.is_dir() else ():
        if not hierarchy.is_dir() or hierarchy.is_symlink() or not (hierarchy / "cgroup.procs").exists():
            continue
        directory = hierarchy / name.strip("/")
        directory.mkdir(exist_ok=True)
        for setting in ("cpuset.cpus", "cpuset.mems"):
            if (directory / setting).exists() and not (directory / setting).read_text().strip():
                (directory / setting).write_text((hierarchy / setting).read_text())


def record_absent_host_dirs(record: Path) -> None:
    """Notes which of HOST_DIRS do not exist yet (before the node's first start), so teardown removes only those."""
    if record.exists():
        return
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps([str(d) for d in HOST_DIRS if not d.exists()]) + "\n")


def remove_created_host_dirs(record: Path) -> list[str]:
    """Removes the recorded folders, children first, if empty; returns those left (not empty: in use)."""
    try:
        created = [Path(d) for d in json.loads(record.read_text())]
    except (OSError, ValueError):
        return []
    left = []
    for directory in reversed(created):
        try:
            directory.rmdir()
        except FileNotFoundError:
            pass
        except OSError as error:
            left.append(f"{directory}: {error.strerror}")
    record.unlink(missing_ok=True)
    return left
