"""Talking back to the engine: ephemeral log messages, and telling a live engine from a gone one."""

import socket
from concurrent import futures

import grpc
from google.protobuf import empty_pb2
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc

from toolchain.language_host.engine import Engine


class RecordingEngine(engine_pb2_grpc.EngineServicer):
    def __init__(self) -> None:
        self.logs: list[engine_pb2.LogRequest] = []

    def Log(self, request, context):
        self.logs.append(request)
        return empty_pb2.Empty()


def serve(servicer: RecordingEngine) -> tuple[grpc.Server, str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    engine_pb2_grpc.add_EngineServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, f"127.0.0.1:{port}"


def test_output_becomes_ephemeral_messages_on_one_stream_per_writer():
    recorder = RecordingEngine()
    server, address = serve(recorder)
    try:
        engine = Engine(address)
        info, error = engine.log_writer(engine_pb2.INFO), engine.log_writer(engine_pb2.ERROR)
        info(b"Creating virtual environment...\n")
        info(b"caf\xc3\xa9 \xff\n")
        error(b"warning from pip\n")
        engine.close()
    finally:
        server.stop(grace=None)
    assert [log.message for log in recorder.logs] == [
        "Creating virtual environment...\n",
        "café \ufffd\n",
        "warning from pip\n",
    ]
    assert all(log.ephemeral for log in recorder.logs)
    assert [log.severity for log in recorder.logs] == [engine_pb2.INFO, engine_pb2.INFO, engine_pb2.ERROR]
    assert recorder.logs[0].streamId == recorder.logs[1].streamId != recorder.logs[2].streamId


def test_an_engine_that_answers_is_alive_even_without_a_health_service():
    server, address = serve(RecordingEngine())
    try:
        assert Engine(address).alive(timeout=5)
    finally:
        server.stop(grace=None)


def test_nothing_listening_is_a_gone_engine():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert not Engine(f"127.0.0.1:{port}").alive(timeout=5)
