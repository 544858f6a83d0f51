"""Starting, checking and stopping the cluster's daemons by pid.

Each daemon runs in its own session (it outlives `make cluster`), logs to `.cluster/logs/<name>.log`, and has its
pid in `.cluster/run/<name>.pid`. Stopping reads that pid and checks that the process still runs the binary it was
started from before it signals it, so a pid reused by an unrelated process is never touched.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tools.cluster.layout import Layout


class ClusterError(Exception):
    """One line for the user: what is missing or what failed, and where to look."""


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _exe(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def running_pid(layout: Layout, name: str) -> int | None:
    """The pid of daemon `name` if its pid file names a live process started as that daemon, else None."""
    pidfile = layout.pidfile(name)
    try:
        pid_text, _, argv0 = pidfile.read_text().partition("\n")
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except OSError:
        return None
    cmdline = _cmdline(pid)
    if not cmdline or cmdline[0] != argv0.strip():
        return None  # the pid was reused by something else
    if Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
        return None
    return pid


def start(layout: Layout, name: str, argv: list[str], env: dict[str, str] | None = None) -> int:
    """Starts daemon `name` (argv[0] an absolute path) detached, logging to its log file; returns its pid."""
    layout.logs.mkdir(parents=True, exist_ok=True)
    layout.run.mkdir(parents=True, exist_ok=True)
    if not Path(argv[0]).is_file():
        raise ClusterError(f"{argv[0]} is missing (run `make toolchain`)")
    with layout.log(name).open("ab") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
            cwd=layout.base,
        )
    layout.pidfile(name).write_text(f"{process.pid}\n{argv[0]}\n")
    # Popen returns once execve has replaced the program, but the kernel copies argv into place a moment later:
    # until then /proc/<pid>/cmdline reads empty and running_pid would take the new daemon for a reused pid (seen
    # here as "exited while starting" with an empty log). Wait out that window; it is far below a millisecond.
    deadline = time.monotonic() + 2.0
    while not any(_cmdline(process.pid)) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    return process.pid


def last_log_line(layout: Layout, name: str) -> str:
    try:
        lines = [line for line in layout.log(name).read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def wait_until(layout: Layout, name: str, ready: Callable[[], bool], timeout: float, what: str | None = None) -> None:
    """Polls `ready` until true; fails fast, with the daemon's last log line, if the daemon exits first."""
    deadline = time.monotonic() + timeout
    while True:
        if ready():
            return
        if running_pid(layout, name) is None:
            raise ClusterError(
                f"{name} exited while starting; {layout.log(name)}: {last_log_line(layout, name) or '(empty)'}"
            )
        if time.monotonic() > deadline:
            raise ClusterError(
                f"{what or name} not ready within {timeout:.0f} s; {layout.log(name)}: {last_log_line(layout, name)}"
            )
        time.sleep(0.2)


def stop(layout: Layout, name: str, grace: float = 10.0) -> bool:
    """Stops daemon `name` by its pid: SIGTERM, then SIGKILL after `grace` seconds. True if it was running."""
    pid = running_pid(layout, name)
    layout.pidfile(name).unlink(missing_ok=True)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    while _alive(pid):
        time.sleep(0.05)
    return True


def _alive(pid: int) -> bool:
    # The daemon is our child only when this process started it; reap it if so, else ask /proc.
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


def stop_child(process: subprocess.Popen, grace: float = 10.0) -> None:
    """Stops a child this process started and holds (a `kubectl proxy`, a port-forward): SIGTERM, SIGKILL after
    `grace` seconds, and reaps it."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
