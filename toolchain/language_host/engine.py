"""Talking back to the engine: log messages, and noticing when the engine is gone.

The engine's address comes from the command line (or, for an attached host, from `Handshake`). The host uses it
for two things, as upstream does:

- ephemeral log messages (the output of creating a virtualenv during `GetRequiredPackages`), which the CLI shows
  while they matter and then drops;
- a liveness check: upstream's `rpcutil.Healthcheck` asks the engine's gRPC health service every 5 minutes and
  stops the host when it does not answer. Here a parent watch is added: when the engine process dies, the host
  is re-parented, and it exits within a second instead of five minutes.
"""

from __future__ import annotations

import logging
import os
import random
import threading
from collections.abc import Callable

import grpc
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc

_log = logging.getLogger(__name__)

HEALTH_CHECK_SECONDS = 300.0
PARENT_CHECK_SECONDS = 1.0
# The engine's own channels allow messages of up to 400 MiB (rpcutil.GrpcChannelOptions).
MAX_MESSAGE_BYTES = 400 * 1024 * 1024
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
]


class Engine:
    """A connection to the engine's `pulumirpc.Engine` service."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._channel = grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
        self._stub = engine_pb2_grpc.EngineStub(self._channel)

    def log_writer(self, severity: engine_pb2.LogSeverity.ValueType) -> Callable[[bytes], None]:
        """A writer whose output the engine shows as ephemeral messages of `severity`, on one stream."""
        stream_id = random.randint(1, 2**31 - 1)

        def write(data: bytes) -> None:
            message = data.decode("utf-8", errors="replace")
            if message:
                self._stub.Log(
                    engine_pb2.LogRequest(severity=severity, message=message, ephemeral=True, streamId=stream_id)
                )

        return write

    def alive(self, timeout: float = 30.0) -> bool:
        """Whether the engine answers its gRPC health check (UNIMPLEMENTED counts: something is listening)."""
        check = self._channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            # An empty HealthCheckRequest and a response we do not read: no grpc_health dependency needed.
            request_serializer=lambda _: b"",
            response_deserializer=lambda data: data,
        )
        try:
            check(None, timeout=timeout)
        except grpc.RpcError as error:
            return error.code() == grpc.StatusCode.UNIMPLEMENTED  # type: ignore[attr-defined, no-any-return]
        return True

    def close(self) -> None:
        """Close the connection."""
        self._channel.close()


def watch_engine(engine: Engine, on_lost: Callable[[str], None], stop: threading.Event) -> None:
    """Call `on_lost` (once) when the engine stops answering, checking every HEALTH_CHECK_SECONDS until `stop`."""

    def watch() -> None:
        while not stop.wait(HEALTH_CHECK_SECONDS):
            if not engine.alive():
                on_lost(f"the engine at {engine.address} no longer answers its health check")
                return

    threading.Thread(target=watch, name="engine-health", daemon=True).start()


def watch_parent(parent: int, on_lost: Callable[[str], None], stop: threading.Event) -> None:
    """Call `on_lost` (once) when `parent`, the process that started the host, exits (the host is re-parented).

    The caller reads `os.getppid()` before printing the port: an engine may exit as soon as it has read it.
    """

    def watch() -> None:
        while not stop.wait(PARENT_CHECK_SECONDS):
            if os.getppid() != parent:
                on_lost(f"the engine process {parent} exited")
                return

    threading.Thread(target=watch, name="engine-parent", daemon=True).start()
    _log.debug("watching parent process %d", parent)
