"""Which clone's cluster owns this machine's real node: one claim file, so a dead node's leftovers are cleaned up.

A real node changes the host (the bridge, FORWARD rules, kube-proxy's chains, kernel settings), and only one can
run per machine. When its daemons die without `make cluster-down` (a killed CI job, a session that ended), the
bridge stays behind and every later `make cluster` in any clone would refuse to start. The claim names the owner's
`.cluster/` folder: if none of that folder's node daemons still runs, its teardown is run here, from the owner's own
records, and the claim passes on; if one does, the new cluster refuses, naming the clone to stop.

The claim lives in /run (a tmpfs), so it goes with a reboot, as the bridge does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from tools.cluster.layout import Layout
from tools.cluster.node_layout import BRIDGE
from tools.cluster.processes import ClusterError, running_pid

CLAIM_FILE = Path("/run/ml-platform/real-node.json")


@dataclass(frozen=True)
class Claim:
    """The claim file at `path` (a test points it elsewhere)."""

    path: Path = CLAIM_FILE

    def owner(self) -> Path | None:
        """The owning cluster's `.cluster/` folder, or None when unclaimed (or the file is unreadable)."""
        try:
            return Path(json.loads(self.path.read_text())["cluster"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def take(self, layout: Layout) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps({"cluster": str(layout.base.resolve())}) + "\n")

    def release(self, layout: Layout) -> None:
        """Drops the claim if `layout` holds it."""
        if self.owner() == layout.base.resolve():
            self.path.unlink(missing_ok=True)


def live_daemons(owner: Layout, names: Iterable[str]) -> list[str]:
    """The node daemons that still run from the owner's pid files (checked against /proc, never by name)."""
    return [name for name in names if running_pid(owner, name) is not None]


def settle(
    claim: Claim,
    layout: Layout,
    daemons: Iterable[str],
    teardown: Callable[[Layout], list[str]],
    bridge_exists: Callable[[], bool],
) -> str | None:
    """Makes `layout` the real node's owner, cleaning up after a dead owner; returns a line to print, if any.

    Raises ClusterError naming the other clone when its node still runs, or when the bridge exists with no claim
    at all (made by something this project did not record: it is left alone).
    """
    here = layout.base.resolve()
    owner = claim.owner()
    note = None
    if owner is not None and owner != here:
        alive = live_daemons(Layout(owner), daemons)
        if alive:
            raise ClusterError(
                f"another clone's real node runs here ({', '.join(alive)} of {owner}); "
                f"stop it first: make -C {owner.parent} cluster-down"
            )
        removed = teardown(Layout(owner))
        note = f"cluster: the real node of {owner} had died without its teardown; cleaned up after it" + (
            f" ({', '.join(removed)})" if removed else ""
        )
    elif owner is None and bridge_exists():
        raise ClusterError(
            f"bridge {BRIDGE} exists, but no clone's cluster claims it ({claim.path} is missing): if no real node "
            f"runs, `make cluster-down` in the clone that started it, or `ip link delete {BRIDGE}`, then retry"
        )
    claim.take(layout)
    return note
