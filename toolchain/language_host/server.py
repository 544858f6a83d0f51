"""The `pulumirpc.LanguageRuntime` service: each RPC of proto/pulumi/language.proto, answered as upstream does.

The work lives in the other modules; this one parses a request's options, calls them, and turns their errors
into gRPC statuses (the message with UNKNOWN, as a Go error from upstream's host arrives). Code generation,
packing and linking (`GenerateProgram`, `GenerateProject`, `GeneratePackage`, `Pack`, `Link`) need upstream's Go
code generator and answer UNIMPLEMENTED.
"""

# Over 300 lines on purpose: one gRPC servicer, each method one RPC of the engine's LanguageRuntime contract.

from __future__ import annotations

import functools
import importlib.metadata
import logging
import signal
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc
from google.protobuf import empty_pb2
from google.protobuf.json_format import MessageToDict
from pulumi.runtime.proto import engine_pb2, language_pb2, language_pb2_grpc, plugin_pb2

from . import about, packages
from .arguments import HostArguments
from .engine import Engine
from .install import InstallError, ensure_virtualenv, install_dependencies
from .options import OptionsError, PythonOptions, Toolchain, options_from_program_info
from .plugin import ANALYZER_KIND, PluginError, run_plugin
from .policy_proxy import PolicyPackNotStarted
from .processes import ChildProcesses
from .program import ProgramError, program_command, run_outcome, typecheck
from .streams import ResponseQueue
from .virtualenv import PythonEnvironment, VirtualenvError

_log = logging.getLogger(__name__)

Handler = TypeVar("Handler", bound=Callable[..., Any])


class HostError(RuntimeError):
    """A request the host cannot serve, with the message to show."""


# Failures whose message is meant for the user; anything else is a bug in the host, reported with its traceback.
USER_ERRORS = (
    HostError,
    OptionsError,
    VirtualenvError,
    InstallError,
    ProgramError,
    PluginError,
    PolicyPackNotStarted,
    packages.DiscoveryError,
    OSError,
    subprocess.SubprocessError,
)


def _abort(context: grpc.ServicerContext, error: BaseException) -> None:
    if isinstance(error, USER_ERRORS):
        context.abort(grpc.StatusCode.UNKNOWN, str(error))
    _log.exception("language host failure")
    context.abort(grpc.StatusCode.INTERNAL, "language host failure:\n" + "".join(traceback.format_exception(error)))


def unary(handler: Handler) -> Handler:
    """Report a unary handler's failure as the RPC's status."""

    @functools.wraps(handler)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return handler(self, request, context)
        except Exception as error:  # noqa: BLE001 - becomes the RPC's status
            _abort(context, error)

    return wrapper  # type: ignore[return-value]


def streaming(handler: Handler) -> Handler:
    """Report a streaming handler's failure as the RPC's status."""

    @functools.wraps(handler)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        try:
            yield from handler(self, request, context)
        except Exception as error:  # noqa: BLE001 - becomes the RPC's status
            _abort(context, error)

    return wrapper  # type: ignore[return-value]


def host_version() -> str:
    """The version the host reports: that of the pulumi SDK it is built on."""
    try:
        return importlib.metadata.version("pulumi")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


class LanguageHost(language_pb2_grpc.LanguageRuntimeServicer):
    """The Python language host."""

    def __init__(
        self,
        arguments: HostArguments,
        children: ChildProcesses | None = None,
        on_engine_address: Callable[[str], None] | None = None,
    ) -> None:
        self.engine_address = arguments.engine_address
        self._arguments = arguments
        self._children = children or ChildProcesses()
        # Called when Handshake names the engine, so the host starts watching it.
        self._on_engine_address = on_engine_address

    def _options(self, info: Any, *, is_plugin: bool = False) -> PythonOptions:
        options = options_from_program_info(info, is_plugin=is_plugin, defaults=self._arguments.legacy_options)
        problem = options.toolchain_error()
        if problem:
            raise HostError(problem)
        return options

    @unary
    def Handshake(self, request: Any, context: grpc.ServicerContext) -> Any:
        """An engine that attached to an already running host (PULUMI_DEBUG_LANGUAGES) says where it is."""
        self.engine_address = request.engine_address
        if self._on_engine_address is not None and request.engine_address:
            self._on_engine_address(request.engine_address)
        return language_pb2.LanguageHandshakeResponse()

    @unary
    def GetPluginInfo(self, request: Any, context: grpc.ServicerContext) -> Any:
        return plugin_pb2.PluginInfo(version=host_version())

    # The plugins a program needs.

    def _required_plugins(self, info: Any) -> list[packages.PluginDependency]:
        options = self._options(info)
        environment = PythonEnvironment.for_options(options)
        # Upstream creates a missing virtualenv here (EnsureVenv); its output is shown as ephemeral messages.
        if self.engine_address:
            engine = Engine(self.engine_address)
            out, err = engine.log_writer(engine_pb2.INFO), engine.log_writer(engine_pb2.ERROR)
        else:
            out = err = lambda _: None
        ensure_virtualenv(self._children, environment, options.program_dir, out, err)
        return packages.required_plugins(environment)

    @unary
    def GetRequiredPackages(self, request: Any, context: grpc.ServicerContext) -> Any:
        def parameterization(value: packages.PackageParameterization | None) -> Any:
            if value is None:
                return None
            return plugin_pb2.PackageParameterization(name=value.name, version=value.version, value=value.value)

        return language_pb2.GetRequiredPackagesResponse(
            packages=[
                plugin_pb2.PackageDependency(
                    name=dependency.name,
                    kind=dependency.kind,
                    version=dependency.version,
                    server=dependency.server,
                    parameterization=parameterization(dependency.parameterization),
                    extension=parameterization(dependency.extension),
                )
                for dependency in self._required_plugins(request.info)
            ]
        )

    @unary
    def GetRequiredPlugins(self, request: Any, context: grpc.ServicerContext) -> Any:
        """The form engines used before GetRequiredPackages: plugins, without parameterization."""
        return language_pb2.GetRequiredPluginsResponse(
            plugins=[
                plugin_pb2.PluginDependency(
                    name=dependency.name, kind=dependency.kind, version=dependency.version, server=dependency.server
                )
                for dependency in self._required_plugins(request.info)
            ]
        )

    # Running a program.

    @unary
    def Run(self, request: Any, context: grpc.ServicerContext) -> Any:
        if not self.engine_address:
            raise HostError("when debugging or running explicitly, must call Handshake before Run")
        options = self._options(request.info)
        if request.attach_debugger:
            return language_pb2.RunResponse(error="attaching a debugger is not supported by this language host")
        environment = PythonEnvironment.for_options(options)
        environment.validate()
        typecheck(options, environment)

        command = program_command(
            request,
            environment,
            engine_address=self.engine_address,
            tracing=self._arguments.tracing,
            executor=self._arguments.executor,
        )
        _log.debug("running %s", command.argv)
        # The program writes to the host's own stdout and stderr, which the engine shows to the user.
        sys.stdout.flush()
        process = self._children.start(command.argv, env=command.env, cwd=command.cwd, stdin=subprocess.DEVNULL)
        # The engine gave up on the run (the RPC was cancelled): interrupt the program, as Cancel does.
        context.add_callback(lambda: self._children.stop(process, signal.SIGINT))
        try:
            returncode = process.wait()
        finally:
            self._children.forget(process)
        error, bail = run_outcome(returncode)
        return language_pb2.RunResponse(error=error, bail=bail)

    @unary
    def Cancel(self, request: Any, context: grpc.ServicerContext) -> Any:
        """Interrupt the running programs and plugins (SIGINT, SIGKILL after 5 s)."""
        self._children.interrupt_all()
        return empty_pb2.Empty()

    # Dependencies.

    @streaming
    def InstallDependencies(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        options = self._options(request.info, is_plugin=request.is_plugin)
        environment = PythonEnvironment.for_options(options)
        out: ResponseQueue[Any] = ResponseQueue(
            stdout=lambda data: language_pb2.InstallDependenciesResponse(stdout=data),
            stderr=lambda data: language_pb2.InstallDependenciesResponse(stderr=data),
        )
        context.add_callback(out.cancel)

        def install() -> None:
            try:
                install_dependencies(
                    self._children,
                    environment,
                    options.program_dir,
                    is_plugin=request.is_plugin,
                    out=out.write_stdout,
                    err=out.write_stderr,
                )
            except Exception as error:  # noqa: BLE001 - ends the stream with this error
                out.finish(error)
            else:
                out.finish()

        threading.Thread(target=install, name="install-dependencies", daemon=True).start()
        yield from out

    @unary
    def GetProgramDependencies(self, request: Any, context: grpc.ServicerContext) -> Any:
        environment = PythonEnvironment.for_options(self._options(request.info))
        installed = packages.installed_packages(environment)
        if not request.transitiveDependencies:
            # What `pip list --not-required` lists: the packages nothing else installed depends on.
            installed = [package for package in installed if not package.required]
        return language_pb2.GetProgramDependenciesResponse(
            dependencies=[language_pb2.DependencyInfo(name=p.name, version=p.version) for p in installed]
        )

    # Plugins and policy packs.

    @streaming
    def RunPlugin(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        if request.attach_debugger:
            raise HostError("attaching a debugger is not supported by this language host")
        options = self._options(request.info, is_plugin=request.kind != ANALYZER_KIND)
        yield from run_plugin(self._children, request, options, context)

    # Project set-up.

    @unary
    def RuntimeOptionsPrompts(self, request: Any, context: grpc.ServicerContext) -> Any:
        options = MessageToDict(request.info.options) if request.info.HasField("options") else {}
        return language_pb2.RuntimeOptionsResponse(prompts=about.runtime_option_prompts(options))

    @unary
    def Template(self, request: Any, context: grpc.ServicerContext) -> Any:
        """pip's requirements.txt is the templates' own format: nothing to convert."""
        self._options(request.info)
        return language_pb2.TemplateResponse()

    @unary
    def About(self, request: Any, context: grpc.ServicerContext) -> Any:
        if request.HasField("info"):
            options = self._options(request.info)
            environment = PythonEnvironment.for_options(options)
            toolchain, typechecker = options.toolchain.display_name, options.typechecker.display_name
        else:
            # Older engines send no ProgramInfo; upstream then describes the ambient Python with pip.
            environment, toolchain, typechecker = PythonEnvironment(venv=None), Toolchain.PIP.display_name, "None"
        described = about.describe(environment)
        return language_pb2.AboutResponse(
            executable=described.executable,
            version=described.version,
            metadata={"toolchain": toolchain, "toolchainVersion": described.pip_version, "typechecker": typechecker},
        )

    # Code generation and packaging: upstream's Go code generator, not available here.

    def _unimplemented(self, context: grpc.ServicerContext, what: str) -> Any:
        context.abort(
            grpc.StatusCode.UNIMPLEMENTED,
            f"{what} is not implemented by this project's Python language host (toolchain/language_host): it needs "
            "upstream's Go code generator, which ships only in the Pulumi CLI's own pulumi-language-python",
        )

    def GenerateProgram(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._unimplemented(context, "GenerateProgram (pulumi convert)")

    def GenerateProject(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._unimplemented(context, "GenerateProject (pulumi convert)")

    def GeneratePackage(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._unimplemented(context, "GeneratePackage (pulumi package gen-sdk)")

    def Pack(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._unimplemented(context, "Pack (pulumi package pack)")

    def Link(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._unimplemented(context, "Link (pulumi package add)")
