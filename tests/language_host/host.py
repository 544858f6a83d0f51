"""Helpers for the language host tests: the shim started as the engine starts it, and throwaway environments."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import language_pb2, language_pb2_grpc, resource_pb2, resource_pb2_grpc

REPO = Path(__file__).resolve().parents[2]
SHIM = REPO / "toolchain" / "bin" / "pulumi-language-python"
# The Python that runs the tests has pulumi, grpcio and pulumi-policy (`make venv`): the programs and packs of the
# tests use it as their virtualenv, so nothing is downloaded.
PROJECT_VENV = Path(sys.prefix)


class FakeMonitor(resource_pb2_grpc.ResourceMonitorServicer):
    """Just enough of the engine's resource monitor for a program to start: it registers the stack and nothing
    else is supported."""

    def SupportsFeature(self, request, context):
        return resource_pb2.SupportsFeatureResponse(hasSupport=False)

    def RegisterResource(self, request, context):
        urn = f"urn:pulumi:dev::demo::{request.type}::{request.name}"
        return resource_pb2.RegisterResourceResponse(urn=urn, object=struct_pb2.Struct())

    def RegisterResourceOutputs(self, request, context):
        return empty_pb2.Empty()

    def SignalAndWaitForShutdown(self, request, context):
        return empty_pb2.Empty()

    def GetDeploymentInfo(self, request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "not in the fake monitor")


@contextmanager
def fake_monitor() -> Iterator[str]:
    """Serve a FakeMonitor on loopback; yields its address."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    resource_pb2_grpc.add_ResourceMonitorServicer_to_server(FakeMonitor(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)


@dataclass
class RunningHost:
    """A host process and a client connected to it."""

    process: subprocess.Popen[bytes]
    port: int
    stub: language_pb2_grpc.LanguageRuntimeStub

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 10.0) -> tuple[int, str]:
        """Signal the host and return its exit code and everything it wrote to stderr."""
        self.process.send_signal(signum)
        _, stderr = self.process.communicate(timeout=timeout)
        return self.process.returncode, stderr.decode()


@contextmanager
def running_host(*args: str, env: dict[str, str] | None = None) -> Iterator[RunningHost]:
    """Start the shim with `args` (the engine passes its address last) and connect to the port it prints."""
    process = subprocess.Popen(
        [str(SHIM), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PULUMI_LANGUAGE_PYTHON": sys.executable, **(env or {})},
        # Its own process group, as the engine starts plugins, so a failed test can kill the host with its children.
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        assert first_line.strip().isdigit(), f"expected a port, got {first_line!r}"
        port = int(first_line)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield RunningHost(process, port, language_pb2_grpc.LanguageRuntimeStub(channel))
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.communicate()


def program_info(directory: Path, *, venv: Path | None = PROJECT_VENV, **options: str) -> language_pb2.ProgramInfo:
    """A ProgramInfo for a program in `directory`, with the runtime options Pulumi.yaml would give."""
    struct = struct_pb2.Struct()
    struct.update({**({"virtualenv": str(venv), "toolchain": "pip"} if venv else {}), **options})
    return language_pb2.ProgramInfo(
        root_directory=str(directory), program_directory=str(directory), entry_point=".", options=struct
    )


def exited(pid: int) -> bool:
    """Whether `pid` is gone or a zombie (an orphan's exit status waits for whoever adopted it)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def write(path: Path, text: str) -> Path:
    """Write dedented `text` to `path`, creating its directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path
