"""Run one Pulumi program inside the program's own Python: the project's pulumi-language-python-exec.

The host starts this file with the program's interpreter (its virtualenv's python), as upstream's host starts the
`pulumi-language-python-exec` script shipped beside the CLI:

    python exec_program.py --monitor ADDR --engine ADDR --project P --root_directory DIR --stack S --pwd DIR
        --dry_run true|false --parallel N [--tracing URL] [--organization ORG] PROGRAM [ARGS...]

It configures the SDK (settings, and the config the host put in PULUMI_CONFIG / PULUMI_CONFIG_SECRET_KEYS), runs
PROGRAM (a directory with __main__.py, or a file) inside the stack resource, and reports failures itself through
the engine's log, so the user sees each one once:

- `pulumi.RunError`: its message alone, exit 1 (the host then reports the non-zero exit, as upstream does);
- any other exception: "Program failed with an unhandled exception:" and the traceback from the user's own code
  on, exit 32; the host answers Run with `bail` and the engine adds nothing;
- a directory without __main__.py: one error naming it, exit 32;
- SIGINT (the engine stopping the run): exit 130 quietly, where upstream's script prints a KeyboardInterrupt
  traceback that hides the engine's own reason.

It runs in the program's environment, so it may import only the standard library and the program's `pulumi`.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import logging
import os
import runpy
import signal
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Any

# Started as a script, Python put this file's directory first on sys.path; the language host's own modules must
# not shadow the program's (`options`, `program`, ...), so it comes off before the SDK and the program load.
if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

# Tells the host the user already has an actionable message: answer Run with `bail` (upstream's value).
EXIT_AFTER_USER_ACTIONABLE_MESSAGE = 32
# Interrupted by SIGINT, as a shell reports it (128 + 2).
EXIT_INTERRUPTED = 130

try:
    import pulumi
    import pulumi.runtime
except ImportError:
    # The engine shows what this process prints to stderr; print() (not sys.stderr.write) as upstream notes.
    print(traceback.format_exc(), file=sys.stderr)
    print(
        "\nIt looks like the Pulumi SDK has not been installed. Have you run pip install?\n"
        "If you are running in a virtualenv, you must run pip install -r requirements.txt from inside the "
        "virtualenv.",
        file=sys.stderr,
    )
    sys.exit(1)


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    """The flags the host passes (the same names as upstream's exec script), then PROGRAM and its ARGS."""
    parser = argparse.ArgumentParser(description="Execute a Pulumi Python program")
    parser.add_argument("--project", help="the project name")
    parser.add_argument("--root_directory", help="the project root directory, where Pulumi.yaml is")
    parser.add_argument("--stack", help="the stack name")
    parser.add_argument("--parallel", type=int, help="resource operations to run in parallel")
    parser.add_argument("--dry_run", help="'true' for a preview")
    parser.add_argument("--pwd", help="the working directory to run the program in")
    parser.add_argument("--monitor", help="the resource monitor's address")
    parser.add_argument("--engine", help="the engine's address")
    parser.add_argument("--tracing", help="a Zipkin-compatible tracing endpoint")
    parser.add_argument("--organization", help="the organization name")
    parser.add_argument("PROGRAM", help="the program: a directory with __main__.py, or a Python file")
    parser.add_argument("ARGS", nargs="*", help="arguments for the program")
    return parser.parse_args(argv)


def module_path(path: str) -> str:
    """A program path as the module file it runs, without extension: a directory means its __main__."""
    base, extension = os.path.splitext(path)
    if not extension:
        base = os.path.join(base, "__main__")
    return os.path.abspath(base)


def user_traceback(error: BaseException, program: str) -> str:
    """The traceback of `error` from the first frame in the user's program on (none of this script or runpy)."""
    summary = traceback.TracebackException.from_exception(error)
    target = module_path(program)
    for index, frame in enumerate(summary.stack):
        if module_path(frame.filename) == target:
            summary.stack = traceback.StackSummary.from_list(list(summary.stack)[index:])
            break
    return "".join(summary.format())


def configure(args: argparse.Namespace) -> Any:
    """Load the config and settings into the SDK; returns the settings."""
    runtime: Any = pulumi.runtime
    config = runtime.get_config_env()
    if hasattr(runtime, "get_config_secret_keys_env") and hasattr(runtime, "set_all_config"):
        runtime.set_all_config(config, runtime.get_config_secret_keys_env())
    else:
        for key, value in config.items():
            runtime.set_config(key, value)

    settings: dict[str, Any] = {
        "monitor": args.monitor,
        "engine": args.engine,
        "project": args.project,
        "stack": args.stack,
        "parallel": args.parallel,
        "dry_run": args.dry_run == "true",
        "organization": args.organization,
        "root_directory": args.root_directory,
    }
    try:
        built = runtime.Settings(**settings)
    except TypeError:
        # An older SDK lacks some keywords (organization, root_directory): pass only those it takes.
        accepted = inspect.signature(runtime.Settings.__init__).parameters
        built = runtime.Settings(**{key: value for key, value in settings.items() if key in accepted})
    runtime.configure(built)
    return built


def main(argv: list[str]) -> int:
    """Run the program; the exit code tells the host how it went (module docstring)."""
    args = parse_arguments(argv)
    settings = configure(args)

    # The program sees its own name and arguments, from its working directory.
    sys.argv = [args.PROGRAM, *args.ARGS]
    if args.pwd:
        os.chdir(args.pwd)
    program = os.path.abspath(args.PROGRAM)

    if os.path.isdir(program) and not os.path.isfile(os.path.join(program, "__main__.py")):
        pulumi.log.error(f"unable to find main python program `__main__.py` in `{program}`")
        return EXIT_AFTER_USER_ACTIONABLE_MESSAGE

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    executor = None
    if settings.parallel is not None:
        # Blocking SDK work runs on the loop's default executor; size it to the requested parallelism.
        executor = ThreadPoolExecutor(max_workers=max(settings.parallel, 1) * 4)
        loop.set_default_executor(executor)

    # A failed deployment leaves futures nobody awaited; asyncio would log each one. They are expected in the
    # Pulumi model and say nothing to the user, so asyncio's logger is silenced, as upstream does.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)

    def run() -> None:
        runpy.run_path(program, run_name="__main__")

    exit_code = 1
    try:
        loop.run_until_complete(pulumi.runtime.run_in_stack(run))
        exit_code = 0
    except pulumi.RunError as error:
        pulumi.log.error(str(error))
    except Exception as error:  # noqa: BLE001 - every failure of the user's program is reported here, once
        pulumi.log.error("Program failed with an unhandled exception:\n" + user_traceback(error, program))
        exit_code = EXIT_AFTER_USER_ACTIONABLE_MESSAGE
    finally:
        if executor is not None:
            executor.shutdown(wait=True)
        loop.close()
        sys.stdout.flush()
        sys.stderr.flush()
    return exit_code


def interrupted(signum: int, frame: object) -> None:
    """The first SIGINT interrupts the program; later ones (the engine also interrupts the host's whole process
    group) are ignored so they cannot break into the way out."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGINT, interrupted)
    try:
        status = main(sys.argv[1:])
    except KeyboardInterrupt:
        # SIGINT means the engine is stopping the run (Cancel, Ctrl-C, or a failure elsewhere, such as a missing
        # provider) and says why itself; a KeyboardInterrupt traceback from inside the event loop would bury that.
        # Leave at once: the SDK's worker threads may be blocked on an engine that is going away.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(EXIT_INTERRUPTED)
    sys.exit(status)
