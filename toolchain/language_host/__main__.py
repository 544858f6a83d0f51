"""Start the language host: serve `LanguageRuntime` on a free loopback port and print the port.

The engine reads one line from the host's stdout, the port, and connects (sdk/go/common/resource/plugin/plugin.go,
`newPlugin`); everything the host or its programs write afterwards is shown to the user, stdout as information and
stderr as errors. So the host writes nothing else of its own unless asked for logs (`-v=N --logtostderr`).

It stops, exiting 0 without a traceback, when the engine is done with it: SIGINT (the engine interrupts the
plugin's process group when it closes a plugin) or SIGTERM, the engine process going away, or the engine no
longer answering its health check.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from concurrent import futures
from types import FrameType

import grpc
from pulumi.runtime.proto import language_pb2_grpc

from .arguments import HostArguments, UsageError, parse_host_arguments
from .engine import CHANNEL_OPTIONS, Engine, watch_engine, watch_parent
from .processes import ChildProcesses
from .server import LanguageHost, host_version

_log = logging.getLogger("language_host")

# Runs, plugin streams and install streams each hold a worker for their whole length.
WORKERS = 32


def configure_logging(arguments: HostArguments) -> None:
    """Log to stderr only when the engine flows `-v` and `--logtostderr` through; otherwise stay silent."""
    if arguments.log_to_stderr and arguments.verbose > 0:
        level = logging.DEBUG if arguments.verbose >= 5 else logging.INFO
        logging.basicConfig(stream=sys.stderr, level=level, format="pulumi-language-python: %(message)s")
    else:
        logging.getLogger().addHandler(logging.NullHandler())
        # gRPC logs a failed handler at ERROR through the root logger; the status already carries the message.
        logging.getLogger("grpc").setLevel(logging.CRITICAL)


def serve(arguments: HostArguments) -> int:
    """Serve until told to stop; returns the exit code."""
    parent = os.getppid()
    stop = threading.Event()
    children = ChildProcesses()

    def stop_because(reason: str) -> None:
        _log.info("stopping: %s", reason)
        stop.set()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop_because(f"signal {signal.Signals(signum).name}")

    # Installed before anything can take long, so an early SIGINT is an orderly stop, not a KeyboardInterrupt.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    def watch(address: str) -> None:
        watch_engine(Engine(address), stop_because, stop)

    host = LanguageHost(arguments, children, on_engine_address=watch)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=WORKERS), options=CHANNEL_OPTIONS)
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(host, server)
    port = server.add_insecure_port("127.0.0.1:0")
    if port == 0:
        print("pulumi-language-python: could not listen on a loopback port", file=sys.stderr)
        return 1
    server.start()
    print(port, flush=True)

    if arguments.engine_address:
        watch(arguments.engine_address)
    watch_parent(parent, stop_because, stop)

    while not stop.wait(1.0):
        pass

    # Programs and plugins first (the engine is done with them), then the server, briefly letting replies finish.
    children.stop_all()
    server.stop(grace=2.0).wait()
    return 0


def main(argv: list[str] | None = None) -> int:
    """The host's entry point: `pulumi-language-python [flags] [ENGINE_ADDRESS]`."""
    try:
        arguments = parse_host_arguments(sys.argv[1:] if argv is None else argv)
    except UsageError as error:
        print(f"pulumi-language-python: {error}", file=sys.stderr)
        return 2
    if arguments.show_version:
        print(host_version())
        return 0
    configure_logging(arguments)
    return serve(arguments)


if __name__ == "__main__":
    sys.exit(main())
