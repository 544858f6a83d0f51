"""A policy pack through RunPlugin: the proxy learns the stack, starts the pack with it, then forwards."""

import time

import grpc
import pytest
from google.protobuf import empty_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, language_pb2

from tests.language_host.host import exited, program_info, running_host, write

PACK = """
import os
from pathlib import Path

from pulumi_policy import PolicyPack, ReportViolation, ResourceValidationPolicy

Path(os.environ["PACK_PID_FILE"]).write_text(str(os.getpid()))
# The pack names its policy after what it was started with: the stack and config the proxy passed on.
stack = os.environ.get("PULUMI_STACK", "unknown")
PolicyPack(
    name="tiny-pack",
    policies=[
        ResourceValidationPolicy(
            name=f"stack-{stack}",
            description=os.environ.get("PULUMI_CONFIG", "no config"),
            validate=lambda args, report_violation: None,
        )
    ],
)
"""


def test_the_pack_starts_with_the_stack_the_engine_configured_and_stops_with_the_rpc(tmp_path):
    write(tmp_path / "pack" / "__main__.py", PACK)
    pid_file = tmp_path / "pack.pid"
    request = language_pb2.RunPluginRequest(
        pwd=str(tmp_path),
        args=["127.0.0.1:1"],
        env=[f"PACK_PID_FILE={pid_file}"],
        info=program_info(tmp_path / "pack"),
        kind="analyzer",
    )
    with running_host("127.0.0.1:1") as host:
        stream = host.stub.RunPlugin(request, timeout=120)
        # The engine reads the plugin's port from its first output: the proxy's.
        port = int(next(stream).stdout)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            analyzer = analyzer_pb2_grpc.AnalyzerStub(channel)
            analyzer.Handshake(analyzer_pb2.AnalyzerHandshakeRequest(engine_address="127.0.0.1:1"), timeout=10)
            analyzer.ConfigureStack(
                analyzer_pb2.AnalyzerStackConfigureRequest(
                    stack="dev", project="demo", organization="org", dry_run=True, config={"demo:environment": "prod"}
                ),
                timeout=10,
            )
            info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=60)
            # The engine calls without a deadline too; the proxy must not turn that into an instant timeout.
            assert analyzer.GetPluginInfo(empty_pb2.Empty()).version
        assert info.name == "tiny-pack"
        assert [policy.name for policy in info.policies] == ["stack-dev"]
        assert info.policies[0].description == '{"demo:environment":"prod"}'

        # The engine closes the plugin by cancelling the RPC: the pack must not outlive it.
        pid = int(pid_file.read_text())
        stream.cancel()
        deadline = time.monotonic() + 10
        while not exited(pid):
            if time.monotonic() > deadline:
                pytest.fail("the policy pack outlived its RunPlugin call")
            time.sleep(0.2)
        assert host.stop() == (0, "")
