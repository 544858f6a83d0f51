"""The machine's real-node claim (tools/cluster/node_claim.py): a dead owner is cleaned up after, a live one refuses.

These run anywhere: the "daemons" are short sleeps started through the cluster's own process helpers, and the
teardown and bridge check are passed in, so nothing on the host is touched.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from tools.cluster import node_claim
from tools.cluster.layout import Layout
from tools.cluster.node_claim import Claim, settle
from tools.cluster.node_layout import NodeLayout
from tools.cluster.processes import ClusterError, running_pid, start, stop
from tools.cluster.real_node import COMPONENTS, stop_real_node


@pytest.fixture
def claim(tmp_path: Path) -> Claim:
    return Claim(tmp_path / "run" / "real-node.json")


def clusters(tmp_path: Path) -> tuple[Layout, Layout]:
    mine, theirs = Layout(tmp_path / "mine" / ".cluster"), Layout(tmp_path / "theirs" / ".cluster")
    for layout in (mine, theirs):
        layout.base.mkdir(parents=True)
    return mine, theirs


class Teardown:
    def __init__(self) -> None:
        self.calls: list[Path] = []

    def __call__(self, layout: Layout) -> list[str]:
        self.calls.append(layout.base)
        return ["bridge mlp0"]


def test_an_unclaimed_machine_is_claimed(tmp_path: Path, claim: Claim) -> None:
    mine, _ = clusters(tmp_path)
    teardown = Teardown()
    assert settle(claim, mine, COMPONENTS, teardown, lambda: False) is None
    assert claim.owner() == mine.base.resolve()
    assert teardown.calls == []


def test_a_dead_owners_host_state_is_torn_down_from_its_records_and_the_claim_passes_on(
    tmp_path: Path, claim: Claim
) -> None:
    mine, theirs = clusters(tmp_path)
    claim.take(theirs)
    # Its pid files name processes that have exited: it died without `make cluster-down`.
    start(theirs, "kubelet", [shutil.which("true") or "/bin/true"])
    deadline = time.monotonic() + 10
    while running_pid(theirs, "kubelet") is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    teardown = Teardown()
    note = settle(claim, mine, COMPONENTS, teardown, lambda: True)
    assert teardown.calls == [theirs.base.resolve()]
    assert note is not None and str(theirs.base.resolve()) in note and "died without its teardown" in note
    assert claim.owner() == mine.base.resolve()


def test_a_live_owner_is_named_and_keeps_its_claim(tmp_path: Path, claim: Claim) -> None:
    mine, theirs = clusters(tmp_path)
    claim.take(theirs)
    start(theirs, "kubelet", [shutil.which("sleep") or "/bin/sleep", "60"])
    teardown = Teardown()
    try:
        with pytest.raises(ClusterError) as raised:
            settle(claim, mine, COMPONENTS, teardown, lambda: True)
    finally:
        stop(theirs, "kubelet")
    message = str(raised.value)
    assert "kubelet" in message and str(theirs.base.resolve()) in message and "cluster-down" in message
    assert "\n" not in message
    assert teardown.calls == []
    assert claim.owner() == theirs.base.resolve()


def test_an_unclaimed_bridge_is_left_alone_with_one_line_saying_what_to_do(tmp_path: Path, claim: Claim) -> None:
    mine, _ = clusters(tmp_path)
    teardown = Teardown()
    with pytest.raises(ClusterError, match=r"bridge mlp0 exists, but no clone's cluster claims it"):
        settle(claim, mine, COMPONENTS, teardown, lambda: True)
    assert teardown.calls == [] and claim.owner() is None


def test_a_cluster_whose_node_was_taken_over_leaves_the_host_to_the_new_owner(
    tmp_path: Path, claim: Claim, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine, theirs = clusters(tmp_path)
    NodeLayout(theirs).owner_mark.write_text("owned\n")
    claim.take(mine)  # `mine` cleaned up after `theirs` and holds the node now

    def host_touched(*_: object) -> None:
        raise AssertionError("the teardown of a taken-over node touched the host")

    monkeypatch.setattr(node_claim, "settle", host_touched)
    monkeypatch.setattr("tools.cluster.node_network.delete_bridge", host_touched)
    monkeypatch.setattr("tools.cluster.iptables_cleanup.remove_node_rules", host_touched)
    assert stop_real_node(theirs, claim) == []
    assert not NodeLayout(theirs).owner_mark.exists()
    assert claim.owner() == mine.base.resolve()
