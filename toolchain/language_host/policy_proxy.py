"""A stand-in `pulumirpc.Analyzer` that learns the stack before the policy pack starts, then forwards to it.

Python policy packs (pulumi-policy) read the stack's project, stack, organization, dry-run flag and config from
PULUMI_* environment variables when they start. Current engines instead start a pack and then tell it the stack
with `ConfigureStack`. Upstream's hosts bridge the two with a proxy (`sdk.PolicyProxy`, sdk/policy_proxy.go):

1. the host serves this proxy and reports the proxy's port as the plugin's first line of output;
2. the engine connects, calls `Handshake` (answered here) and `ConfigureStack` (kept here);
3. the host starts the real pack with that configuration in its environment and reads the pack's own port from
   the pack's first line of output (`attach`);
4. the proxy passes the configuration on (ignoring UNIMPLEMENTED from older packs) and forwards every other call.

A call that comes before any `ConfigureStack` (`pulumi policy publish` has no stack) starts the pack without one.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from .engine import CHANNEL_OPTIONS

_log = logging.getLogger(__name__)

# A call's remaining time at or past this (seconds, about 31 years) means it has no deadline.
NO_DEADLINE = 1e9


class PolicyPackNotStarted(RuntimeError):
    """The pack exited, or printed no port, before it could answer."""


def policy_environment(configuration: Any | None) -> dict[str, str]:
    """The PULUMI_* variables a pack reads, from an `AnalyzerStackConfigureRequest` (empty values left out)."""
    if configuration is None:
        return {}
    env = {
        "PULUMI_ORGANIZATION": configuration.organization,
        "PULUMI_PROJECT": configuration.project,
        "PULUMI_STACK": configuration.stack,
        "PULUMI_DRY_RUN": "true" if configuration.dry_run else "false",
    }
    config = dict(configuration.config)
    if config:
        env["PULUMI_CONFIG"] = json.dumps(dict(sorted(config.items())), separators=(",", ":"))
    return {key: value for key, value in env.items() if value}


class _Once:
    """A value set once (later sets are ignored), awaited by many."""

    def __init__(self) -> None:
        self._future: futures.Future[Any] = futures.Future()
        self._lock = threading.Lock()

    def set(self, value: Any) -> None:
        with self._lock:
            if not self._future.done():
                self._future.set_result(value)

    def fail(self, error: BaseException) -> None:
        with self._lock:
            if not self._future.done():
                self._future.set_exception(error)

    def is_set(self) -> bool:
        return self._future.done()

    def get(self, timeout: float | None = None) -> Any:
        return self._future.result(timeout)


class PolicyProxy(analyzer_pb2_grpc.AnalyzerServicer):
    """The analyzer the engine talks to while the real pack starts, and then through."""

    def __init__(self) -> None:
        self._configuration = _Once()
        self._client = _Once()
        self._channel: grpc.Channel | None = None
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=CHANNEL_OPTIONS)
        analyzer_pb2_grpc.add_AnalyzerServicer_to_server(self, self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()
        _log.debug("policy proxy listening on port %d", self.port)

    def await_configuration(self, cancelled: Callable[[], bool]) -> Any | None:
        """The stack configuration the engine sends (None when a call came first), polling `cancelled`."""
        while True:
            try:
                return self._configuration.get(timeout=0.2)
            except futures.TimeoutError:
                if cancelled():
                    raise PolicyPackNotStarted("the engine stopped the policy pack before configuring it") from None

    def attach(self, first_line: bytes) -> None:
        """Connect to the pack whose first line of output is `first_line` (its port) and configure it."""
        try:
            port = int(first_line.strip())
        except ValueError:
            self.abort(PolicyPackNotStarted(f"could not read policy pack port from {first_line[:200]!r}"))
            return
        self._channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=CHANNEL_OPTIONS)
        client = analyzer_pb2_grpc.AnalyzerStub(self._channel)
        configuration = self._configuration.get() if self._configuration.is_set() else None
        if configuration is not None:
            try:
                client.ConfigureStack(configuration)
            except grpc.RpcError as error:
                # Older packs do not implement ConfigureStack: they read the environment they were started with.
                if error.code() != grpc.StatusCode.UNIMPLEMENTED:  # type: ignore[attr-defined]
                    self.abort(PolicyPackNotStarted(f"policy pack configuration failed: {error}"))
                    return
        self._client.set(client)

    def abort(self, error: BaseException) -> None:
        """Fail every call that waits for the pack (it exited, or never printed a port)."""
        self._configuration.set(None)
        self._client.fail(error)

    def stop(self) -> None:
        """Stop serving and close the connection to the pack."""
        self.abort(PolicyPackNotStarted("policy pack stopped"))
        self._server.stop(grace=None)
        if self._channel is not None:
            self._channel.close()

    # The two calls answered here.

    def Handshake(self, request: Any, context: grpc.ServicerContext) -> Any:
        return analyzer_pb2.AnalyzerHandshakeResponse()

    def ConfigureStack(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._configuration.set(request)
        return analyzer_pb2.AnalyzerStackConfigureResponse()

    # Everything else goes to the pack.

    def _forward(self, method: str, request: Any, context: grpc.ServicerContext) -> Any:
        # Without a ConfigureStack first there is no stack (`pulumi policy publish`): start the pack without one.
        self._configuration.set(None)
        try:
            client = self._client.get()
        except PolicyPackNotStarted as error:
            context.abort(grpc.StatusCode.UNAVAILABLE, f"policy pack not started: {error}")
        # Without a deadline gRPC reports ~2**63 seconds remaining, which as a timeout would overflow at once.
        remaining = context.time_remaining()
        timeout = remaining if remaining is not None and remaining < NO_DEADLINE else None
        try:
            return getattr(client, method)(request, timeout=timeout)
        except grpc.RpcError as error:
            context.abort(error.code(), error.details())  # type: ignore[attr-defined]

    def Analyze(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._forward("Analyze", request, context)

    def AnalyzeStack(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._forward("AnalyzeStack", request, context)

    def Remediate(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._forward("Remediate", request, context)

    def GetAnalyzerInfo(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._forward("GetAnalyzerInfo", request, context)

    def GetPluginInfo(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._forward("GetPluginInfo", request, context)

    def Configure(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._forward("Configure", request, context)

    def Cancel(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._forward("Cancel", request, context)
