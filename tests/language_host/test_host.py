"""The host as the engine sees it: a process that prints its port and answers LanguageRuntime, no engine needed."""

import importlib.metadata
import os
import signal
import subprocess
import sys
import time

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import language_pb2

from tests.language_host.host import PROJECT_VENV, SHIM, exited, program_info, running_host, write


def test_the_port_comes_first_and_plugin_info_reports_the_sdk_version():
    with running_host("127.0.0.1:1") as host:
        info = host.stub.GetPluginInfo(empty_pb2.Empty())
        assert info.version == importlib.metadata.version("pulumi")
        assert host.stop() == (0, "")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_the_engine_stopping_the_host_is_a_clean_exit_without_a_traceback(signum):
    with running_host("127.0.0.1:1") as host:
        host.stub.GetPluginInfo(empty_pb2.Empty())
        assert host.stop(signum) == (0, "")


def test_the_host_exits_when_the_engine_process_is_gone():
    # A stand-in engine starts the host, waits for its port, and exits; the re-parented host must not linger.
    starter = (
        "import subprocess, sys\n"
        f"p = subprocess.Popen([{str(SHIM)!r}, '127.0.0.1:1'], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)\n"
        "p.stdout.readline()\n"
        "print(p.pid)\n"
    )
    pid = int(subprocess.run([sys.executable, "-c", starter], capture_output=True, text=True, check=True).stdout)
    deadline = time.monotonic() + 10
    while not exited(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            pytest.fail("the host outlived the process that started it")
        time.sleep(0.2)


def test_the_host_refuses_a_flag_it_does_not_know():
    completed = subprocess.run([str(SHIM), "-bogus"], capture_output=True, text=True, check=False)
    assert completed.returncode == 2
    assert "flag provided but not defined: -bogus" in completed.stderr


def test_run_needs_an_engine(tmp_path):
    with running_host() as host:
        with pytest.raises(grpc.RpcError) as error:
            host.stub.Run(language_pb2.RunRequest(info=program_info(tmp_path)))
        assert "must call Handshake before Run" in error.value.details()


def test_a_missing_virtualenv_is_explained_with_the_commands_that_create_it(tmp_path):
    with running_host() as host:
        host.stub.Handshake(language_pb2.LanguageHandshakeRequest(engine_address="127.0.0.1:1"))
        with pytest.raises(grpc.RpcError) as error:
            host.stub.Run(language_pb2.RunRequest(info=program_info(tmp_path, venv=tmp_path / "missing")))
        details = error.value.details()
        assert f'"{tmp_path / "missing"}" doesn\'t exist' in details
        assert "-m pip install -r requirements.txt" in details


def test_required_packages_come_from_the_programs_virtualenv(tmp_path):
    with running_host("127.0.0.1:1") as host:
        response = host.stub.GetRequiredPackages(language_pb2.GetRequiredPackagesRequest(info=program_info(tmp_path)))
        packages = {package.name: package for package in response.packages}
        assert packages["kubernetes"].version.startswith("v4.")
        assert packages["kubernetes"].kind == "resource"
        plugins = host.stub.GetRequiredPlugins(language_pb2.GetRequiredPluginsRequest(info=program_info(tmp_path)))
        assert {plugin.name for plugin in plugins.plugins} == set(packages)


def test_a_toolchain_other_than_pip_is_refused_with_the_fix(tmp_path):
    with running_host("127.0.0.1:1") as host:
        with pytest.raises(grpc.RpcError) as error:
            host.stub.GetRequiredPackages(
                language_pb2.GetRequiredPackagesRequest(info=program_info(tmp_path, venv=None, toolchain="uv"))
            )
        assert error.value.code() == grpc.StatusCode.UNKNOWN
        assert "toolchain: pip" in error.value.details()


def test_program_dependencies_direct_or_transitive(tmp_path):
    with running_host() as host:
        info = program_info(tmp_path)
        direct = host.stub.GetProgramDependencies(language_pb2.GetProgramDependenciesRequest(info=info))
        every = host.stub.GetProgramDependencies(
            language_pb2.GetProgramDependenciesRequest(info=info, transitiveDependencies=True)
        )
        direct_names = {dependency.name for dependency in direct.dependencies}
        every_names = {dependency.name for dependency in every.dependencies}
        assert "pulumi-kubernetes" in direct_names
        assert "grpcio" in every_names and "grpcio" not in direct_names


def test_about_describes_the_programs_python(tmp_path):
    with running_host() as host:
        about = host.stub.About(language_pb2.AboutRequest(info=program_info(tmp_path)))
        assert about.executable.startswith(str(PROJECT_VENV))
        assert about.version == ".".join(map(str, sys.version_info[:3]))
        assert about.metadata["toolchain"] == "Pip" and about.metadata["typechecker"] == "None"


def test_new_projects_are_offered_pip_then_a_virtualenv():
    def prompts(**options):
        struct = struct_pb2.Struct()
        struct.update(options)
        request = language_pb2.RuntimeOptionsRequest(info=language_pb2.ProgramInfo(options=struct))
        return [(p.key, p.default.stringValue) for p in host.stub.RuntimeOptionsPrompts(request).prompts]

    with running_host() as host:
        assert prompts() == [("toolchain", "pip")]
        assert prompts(toolchain="pip") == [("virtualenv", "venv")]
        assert prompts(toolchain="pip", virtualenv=".venv") == []


def test_code_generation_is_unimplemented_with_a_reason():
    with running_host() as host:
        with pytest.raises(grpc.RpcError) as error:
            host.stub.GenerateProgram(language_pb2.GenerateProgramRequest())
        assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert "toolchain/language_host" in error.value.details()


def test_a_plugin_streams_its_output_and_its_exit_code(tmp_path):
    write(
        tmp_path / "plugin" / "__main__.py",
        """
        import sys
        print("args:", sys.argv[1:], flush=True)
        print("to stderr", file=sys.stderr)
        sys.exit(3)
        """,
    )
    with running_host("127.0.0.1:1") as host:
        request = language_pb2.RunPluginRequest(
            pwd=str(tmp_path), args=["127.0.0.1:1"], info=program_info(tmp_path / "plugin"), kind="resource"
        )
        responses = list(host.stub.RunPlugin(request, timeout=60))
    stdout = b"".join(r.stdout for r in responses)
    stderr = b"".join(r.stderr for r in responses)
    assert stdout == b"args: ['127.0.0.1:1']\n"
    assert stderr == b"to stderr\n"
    assert responses[-1].WhichOneof("output") == "exitcode" and responses[-1].exitcode == 3


def test_a_host_python_without_the_sdk_is_named_with_the_fix(tmp_path):
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "bare")], check=True)
    python = tmp_path / "bare" / "bin" / "python"
    completed = subprocess.run(
        [str(SHIM), "127.0.0.1:1"],
        env={**os.environ, "PULUMI_LANGUAGE_PYTHON": str(python)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert completed.returncode == 1
    assert completed.stdout == ""
    assert f"{python} cannot run the language host" in completed.stderr
    assert "PULUMI_LANGUAGE_PYTHON" in completed.stderr
