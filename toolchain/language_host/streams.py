"""A child process's output as a stream of gRPC responses.

`InstallDependencies` and `RunPlugin` are server-streaming RPCs: each chunk a child writes to stdout or stderr is
one response (upstream's `rpcutil.MakeInstallDependenciesStreams` / `MakeRunPluginStreams`). gRPC Python sends
what the handler yields, so the handler iterates a `ResponseQueue` that reader threads fill; a cancelled RPC
finishes the queue so the handler does not block on a child nobody listens to any more.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import IO, Generic, TypeVar

Response = TypeVar("Response")

_FINISHED = object()
# Chunks are forwarded as soon as they are read; this only bounds one read.
_CHUNK = 64 * 1024


class ResponseQueue(Generic[Response]):
    """Responses from several writers, in the order written, until `finish`."""

    def __init__(self, stdout: Callable[[bytes], Response], stderr: Callable[[bytes], Response]) -> None:
        self._stdout = stdout
        self._stderr = stderr
        self._items: queue.Queue[object] = queue.Queue()
        self._error: BaseException | None = None
        self.cancelled = threading.Event()

    def put(self, response: Response) -> None:
        """Queue one response."""
        self._items.put(response)

    def write_stdout(self, data: bytes) -> None:
        """Queue `data` as standard output."""
        if data:
            self.put(self._stdout(data))

    def write_stderr(self, data: bytes) -> None:
        """Queue `data` as standard error."""
        if data:
            self.put(self._stderr(data))

    def finish(self, error: BaseException | None = None) -> None:
        """No more responses; iteration ends, raising `error` when given."""
        self._error = error
        self._items.put(_FINISHED)

    def cancel(self) -> None:
        """The RPC is gone: end iteration now, whatever is still queued."""
        self.cancelled.set()
        self._items.put(_FINISHED)

    def __iter__(self) -> Iterator[Response]:
        while True:
            item = self._items.get()
            if item is _FINISHED:
                break
            if self.cancelled.is_set():
                return
            yield item  # type: ignore[misc]
        if self._error is not None and not self.cancelled.is_set():
            raise self._error


def pump(
    stream: IO[bytes],
    write: Callable[[bytes], None],
    *,
    first_line: Callable[[bytes], None] | None = None,
    name: str = "pump",
) -> threading.Thread:
    """Copy `stream` to `write` chunk by chunk on a new thread; `first_line`, when given, gets the first line
    instead (a policy pack's port) and may block, the rest still flows afterwards."""

    def copy() -> None:
        with stream:
            if first_line is not None:
                first_line(stream.readline())
            read = getattr(stream, "read1", stream.read)
            while chunk := read(_CHUNK):
                write(chunk)

    thread = threading.Thread(target=copy, name=name, daemon=True)
    thread.start()
    return thread
