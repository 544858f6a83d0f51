"""The child processes the host starts (programs, plugins, pip), tracked so they can be stopped.

Three things stop a child early: the engine's `Cancel` RPC (upstream interrupts the running program with SIGINT
and kills it 5 s later), the engine cancelling the RPC that started it (it closed the plugin or gave up on the
run), and the host itself shutting down. A child the host forgets would outlive the engine.
"""

from __future__ import annotations

import signal
import subprocess
import threading
from typing import Any

# How long a child has to exit after SIGINT/SIGTERM before SIGKILL (upstream's `cmd.WaitDelay`).
GRACE_SECONDS = 5.0


class ChildProcesses:
    """The children that are running now."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[Any]] = set()

    def start(self, argv: list[str], **popen: Any) -> subprocess.Popen[Any]:
        """Start `argv` (subprocess.Popen keyword arguments pass through) and track it until `forget`."""
        process: subprocess.Popen[Any] = subprocess.Popen(argv, **popen)
        with self._lock:
            self._running.add(process)
        return process

    def forget(self, process: subprocess.Popen[Any]) -> None:
        """Stop tracking a child that has exited."""
        with self._lock:
            self._running.discard(process)

    def running(self) -> list[subprocess.Popen[Any]]:
        """The tracked children that have not exited."""
        with self._lock:
            return [process for process in self._running if process.poll() is None]

    def stop(self, process: subprocess.Popen[Any], first: signal.Signals = signal.SIGTERM) -> None:
        """Send `first` now and SIGKILL after the grace period, without waiting here."""
        if process.poll() is not None:
            return
        try:
            process.send_signal(first)
        except ProcessLookupError:
            return

        def kill_when_late() -> None:
            try:
                process.wait(timeout=GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()

        threading.Thread(target=kill_when_late, name=f"stop-{process.pid}", daemon=True).start()

    def interrupt_all(self) -> None:
        """SIGINT every running child: the engine's `Cancel`, which lets a program stop cleanly."""
        for process in self.running():
            self.stop(process, signal.SIGINT)

    def stop_all(self, wait: float = GRACE_SECONDS) -> None:
        """SIGTERM every running child and wait for them (SIGKILL the late ones): the host is exiting."""
        running = self.running()
        for process in running:
            try:
                process.terminate()
            except ProcessLookupError:
                pass
        for process in running:
            try:
                process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                process.kill()
