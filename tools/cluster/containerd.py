"""The node's container runtime: Debian's containerd (1.6) with its CRI plugin, as an instance of its own.

Its root, state, socket and runc state are under `.cluster/`, so Docker's containerd (and /var/lib/containerd) are
never touched. The local registry (127.0.0.1:5000, plain HTTP) is configured as such through `hosts.toml`, so the
kubelet pulls the model image from it by digest, as any cluster node pulls from its registry.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

from tools.cluster import pause_image
from tools.cluster.cri import Cri
from tools.cluster.node_layout import CNI_BIN_DIRS, NodeLayout
from tools.cluster.processes import ClusterError, running_pid, start, stop, wait_until

CONTAINERD = "containerd"
REGISTRY = "127.0.0.1:5000"
START_TIMEOUT = 30.0
SOCKET_PATH_MAX = 104
# CapEff bit 24: without it, no process may lower its oom_score_adj (see oom_config()).
CAP_SYS_RESOURCE = 24


def binary(name: str) -> str | None:
    """containerd, ctr or runc: Debian's packages, found on PATH or in their usual places."""
    return shutil.which(name) or next(
        (str(path) for path in (Path("/usr/bin") / name, Path("/usr/sbin") / name) if path.is_file()), None
    )


def has_cap_sys_resource() -> bool:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> CAP_SYS_RESOURCE & 1)
    return False


def oom_config() -> tuple[bool, str | None]:
    """Whether to set `restrict_oom_score_adj`, and the one-line note to print when it is set.

    Each pod sandbox gets oom_score_adj -998 (containerd's CRI default, matching the kubelet's QoS policy), and
    Guaranteed pods' containers -997 from the kubelet. Lowering it needs CAP_SYS_RESOURCE, which root lacks on
    some machines (this one: CapEff bit 24 is 0): runc's write is refused, and the failure surfaces only as
    "can't get final child's PID from pipe: EOF". With the option, containerd raises any value below its own to
    its own, which is allowed.
    """
    if has_cap_sys_resource():
        return False, None
    return True, (
        "containerd: root lacks CAP_SYS_RESOURCE here, so pods get no negative oom_score_adj "
        "(restrict_oom_score_adj = true)"
    )


def ctr_command(node: NodeLayout) -> list[str]:
    ctr = binary("ctr")
    if ctr is None:
        raise ClusterError("ctr is not installed (apt-get install containerd)")
    return [ctr, "--address", str(node.containerd_socket), "--timeout", "20s"]


def _toml_string(value: str | Path) -> str:
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(node: NodeLayout, restrict_oom: bool) -> Path:
    """containerd's config: own paths, the CRI plugin with our CNI, pause image and registry settings."""
    runc = binary("runc")
    if runc is None:
        raise ClusterError("runc is not installed (apt-get install runc)")
    cni_bin = next((d for d in CNI_BIN_DIRS if (d / "bridge").is_file()), None)
    if cni_bin is None:
        raise ClusterError("the CNI plugins are not installed (apt-get install containernetworking-plugins)")
    hosts = node.registry_hosts / REGISTRY / "hosts.toml"
    hosts.parent.mkdir(parents=True, exist_ok=True)
    hosts.write_text(
        "# Written by `make cluster` (tools/cluster/containerd.py): the local registry speaks plain HTTP.\n"
        f'server = "http://{REGISTRY}"\n'
        f'[host."http://{REGISTRY}"]\n  capabilities = ["pull", "resolve"]\n'
    )
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    text = f"""# Written by `make cluster` (tools/cluster/containerd.py). The node's own containerd, not Docker's.
version = 2
root = {_toml_string(node.containerd_root)}
state = {_toml_string(node.containerd_state)}
# Only the CRI is used; these snapshotters cannot work here and would only log errors.
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]

[grpc]
  address = {_toml_string(node.containerd_socket)}

[plugins."io.containerd.internal.v1.opt"]
  path = {_toml_string(node.base / "containerd" / "opt")}

[{cri}]
  sandbox_image = {_toml_string(pause_image.IMAGE)}
  restrict_oom_score_adj = {str(restrict_oom).lower()}
  # Network namespaces under our state folder (not /var/run/netns), so that teardown finds every one.
  netns_mounts_under_state_dir = true
  # Streaming (exec, attach, port-forward), proxied by the kubelet, listens on loopback only.
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_tls_streaming = false

  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        BinaryName = {_toml_string(runc)}
        Root = {_toml_string(node.runc_root)}
        # The kubelet here uses the cgroupfs driver (no systemd in this machine).
        SystemdCgroup = false

  [{cri}.cni]
    bin_dir = {_toml_string(cni_bin)}
    conf_dir = {_toml_string(node.cni_conf_dir)}
    max_conf_num = 1

  [{cri}.registry]
    config_path = {_toml_string(node.registry_hosts)}
"""
    node.containerd_config.parent.mkdir(parents=True, exist_ok=True)
    node.containerd_config.write_text(text)
    return node.containerd_config


def check_socket_path(node: NodeLayout) -> None:
    """containerd refuses a socket path over 104 bytes (its ttrpc socket adds ".ttrpc" to ours): a clone deep in
    the file system is told so before anything starts, not by containerd's log after the control plane has."""
    longest = len(os.fsencode(node.containerd_socket)) + len(".ttrpc")
    if longest > SOCKET_PATH_MAX:
        raise ClusterError(
            f"containerd's socket path {node.containerd_socket}.ttrpc is {longest} bytes, over the "
            f"{SOCKET_PATH_MAX} a unix socket may have: clone the project to a shorter path"
        )


def start_containerd(node: NodeLayout) -> None:
    """Starts containerd (if not running), waits for its CRI, and imports the pause image."""
    layout = node.cluster
    containerd = binary(CONTAINERD)
    if containerd is None:
        raise ClusterError("containerd is not installed (apt-get install containerd)")
    if running_pid(layout, node.daemon(CONTAINERD)) is None:
        check_socket_path(node)
        restrict_oom, note = oom_config()
        if note:
            print(f"cluster: {note}")
        config = write_config(node, restrict_oom)
        node.containerd_socket.unlink(missing_ok=True)
        start(layout, node.daemon(CONTAINERD), [containerd, "--config", str(config), "--log-level", "warn"])
    cri = Cri(node.containerd_socket)
    wait_until(layout, node.daemon(CONTAINERD), cri.answers, START_TIMEOUT, f"{node.daemon(CONTAINERD)}'s CRI")
    pause_image.ensure_imported(ctr_command(node), node.pause_build)


def remove_everything(node: NodeLayout) -> None:
    """Removes every pod (through the CRI: CNI DEL included), then any container or task left in any namespace."""
    if running_pid(node.cluster, node.daemon(CONTAINERD)) is None:
        return
    try:
        Cri(node.containerd_socket).remove_all_pods()
    except Exception:  # noqa: BLE001 - a half-dead runtime: the sweeps below and after stop take over
        pass
    ctr = ctr_command(node)
    namespaces = _lines(subprocess.run([*ctr, "namespaces", "ls", "-q"], capture_output=True, text=True, timeout=30))
    for namespace in namespaces:
        for task in _lines(
            subprocess.run([*ctr, "-n", namespace, "tasks", "ls", "-q"], capture_output=True, text=True, timeout=30)
        ):
            subprocess.run(
                [*ctr, "-n", namespace, "tasks", "kill", "-s", "SIGKILL", task], capture_output=True, timeout=30
            )
            subprocess.run([*ctr, "-n", namespace, "tasks", "delete", "-f", task], capture_output=True, timeout=30)
        for container in _lines(
            subprocess.run(
                [*ctr, "-n", namespace, "containers", "ls", "-q"], capture_output=True, text=True, timeout=30
            )
        ):
            subprocess.run([*ctr, "-n", namespace, "containers", "delete", container], capture_output=True, timeout=30)


def _lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line.strip() for line in result.stdout.splitlines() if line.strip()] if result.returncode == 0 else []


def stop_containerd(node: NodeLayout) -> bool:
    """Stops containerd by pid, then what outlives it by design: shims and containers (after a crash, say)."""
    stopped = stop(node.cluster, node.daemon(CONTAINERD))
    _kill_leftover_containers(node)
    _kill_leftover_shims(node)
    return stopped


def _kill_leftover_containers(node: NodeLayout) -> None:
    # runc keeps one state folder per containerd namespace under our runc root.
    runc = binary("runc")
    if runc is None or not node.runc_root.is_dir():
        return
    for root in node.runc_root.iterdir():
        listed = subprocess.run([runc, "--root", str(root), "list", "-q"], capture_output=True, text=True, timeout=30)
        for container in _lines(listed):
            subprocess.run([runc, "--root", str(root), "delete", "--force", container], capture_output=True, timeout=30)


def _kill_leftover_shims(node: NodeLayout) -> None:
    """SIGKILLs, by pid, the shims serving our containerd: their command line names our socket."""
    socket = str(node.containerd_socket)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if argv and argv[0].endswith("containerd-shim-runc-v2") and socket in argv:
            try:
                os.kill(int(entry.name), signal.SIGKILL)
            except OSError:
                pass
