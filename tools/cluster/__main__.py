"""`make cluster` / `make cluster-down`: a single-node Kubernetes cluster on loopback, from the toolchain's binaries.

    python -m tools.cluster up [--node kwok]   start what is not running, wait until the node is Ready
    python -m tools.cluster down                stop every process it started (by pid) and remove .cluster/
    python -m tools.cluster status              one line per component

Every failure is one line naming the component, and exit 1; nothing waits longer than a minute.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import shutil
import sys
import time
from collections.abc import Iterator

from tools.cluster import builder, containerd, control_plane, kwok_node, real_node
from tools.cluster.layout import NODE_NAME, Layout, Ports, binary, default_layout
from tools.cluster.node_layout import MAX_NODES, NodeLayout
from tools.cluster.processes import ClusterError, running_pid, stop

NODE_KINDS = ("real", "kwok")
REQUIRED_BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "buildkitd",
    "docker-buildx",
)


def _check_toolchain() -> None:
    missing = [name for name in REQUIRED_BINARIES if not binary(name).is_file()]
    if missing:
        raise ClusterError(f"the toolchain lacks {', '.join(missing)} (run `make toolchain`)")


def choose_node(requested: str | None) -> tuple[str, str]:
    """The node kind to start and why: the one asked for, else a real node where this machine can run one."""
    if requested:
        return requested, "as asked (NODE=" + requested + ")"
    can_run, reason = real_node.machine_allows_real_node()
    return ("real", reason) if can_run else ("kwok", reason)


def up(layout: Layout, requested_node: str | None, ports: Ports, nodes: int | None = None) -> None:
    _check_toolchain()
    started = time.monotonic()
    layout.base.mkdir(parents=True, exist_ok=True)
    running = layout.node_kind_file.read_text().strip() if layout.node_kind_file.exists() else None
    node, why = (running, "already running") if running and not requested_node else choose_node(requested_node)
    if running and node != running:
        raise ClusterError(f"a {running} node runs already; `make cluster-down` first to start a {node} node")
    if nodes not in (None, 1) and node != "real":
        raise ClusterError(f"NODES={nodes} needs real nodes; a {node} cluster has one node")
    if node == "real":
        containerd.check_socket_path(NodeLayout(layout))
    print(f"cluster: starting a {node} node ({why})")
    certs = control_plane.start_control_plane(layout, ports)
    api = control_plane.api(layout, certs, ports)
    layout.node_kind_file.write_text(node + "\n")
    if node == "real":
        real_node.start_real_node(layout, ports, api, certs)
        if nodes == 2:
            real_node.start_second_node(layout, ports, api, certs)
        elif nodes == 1:
            real_node.stop_second_node(layout, api)
    else:
        kwok_node.start_kwok_node(layout, ports, api)
    builder.start_builder(layout)
    builder.push_local_base()
    names = [n.name for n in real_node.running_nodes(layout)] if node == "real" else [NODE_NAME]
    print(
        f"cluster: ready in {time.monotonic() - started:.0f} s ({node} node{'s' if len(names) > 1 else ''} "
        f"{', '.join(names)}); "
        f"use it with: export KUBECONFIG={layout.kubeconfig}"
    )


def down(layout: Layout) -> None:
    # The real node first: its pods' containers, mounts, bridge and iptables rules go before the API server does.
    # Only a cluster that ran a real node has host state to clean (another clone's real node may be running).
    kind = layout.node_kind_file.read_text().strip() if layout.node_kind_file.exists() else None
    stopped = real_node.stop_real_node(layout) if kind in (None, "real") and layout.base.exists() else []
    stopped += [name for name in _components() if stop(layout, name)]
    if layout.base.exists():
        shutil.rmtree(layout.base)
    print(f"cluster: stopped {', '.join(stopped) if stopped else 'nothing (none was running)'}; removed {layout.base}")


def _components() -> list[str]:
    """Every daemon, in the order they are stopped: the node first, etcd last."""
    return [kwok_node.KWOK, builder.BUILDKITD, *reversed(control_plane.COMPONENTS)]


def status(layout: Layout) -> int:
    running = 0
    for name in [*reversed(_components()), *real_node.COMPONENTS, *real_node.SECOND_NODE_COMPONENTS]:
        pid = running_pid(layout, name)
        running += pid is not None
        print(f"{name}: {'running, pid ' + str(pid) if pid else 'stopped'}")
    return 0 if running else 3


@contextlib.contextmanager
def _exclusive(layout: Layout) -> Iterator[None]:
    lock = layout.base.with_name(layout.base.name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.cluster", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up_parser = sub.add_parser("up", help="start the cluster (idempotent)")
    up_parser.add_argument(
        "--node", choices=NODE_KINDS, default=None, help="the node kind (default: real where this machine allows it)"
    )
    up_parser.add_argument(
        "--nodes",
        type=int,
        choices=range(1, MAX_NODES + 1),
        default=None,
        help="real nodes: 2 adds a second kubelet (for drains), 1 removes it (default: as running)",
    )
    sub.add_parser("down", help="stop the cluster and remove its state")
    sub.add_parser("status", help="which components run")
    args = parser.parse_args(argv)
    layout = default_layout()
    try:
        if args.command == "status":
            return status(layout)
        # One `up` or `down` at a time: a `down` removing .cluster/ while an `up` fills it leaves daemons without
        # pid files (seen here with a test and a benchmark run side by side).
        with _exclusive(layout):
            if args.command == "up":
                up(layout, args.node, Ports(), args.nodes)
            else:
                down(layout)
    except ClusterError as error:
        print(f"cluster: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("cluster: interrupted; `make cluster-down` stops what was started", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
