"""The language host's command line, parsed the way Go's `flag` package parses the upstream host's.

The engine (sdk/go/common/resource/plugin/plugin.go, `buildPluginArguments`) starts a language host as

    pulumi-language-python [--logtostderr] [-v=N] [--tracing ENDPOINT] ENGINE_ADDRESS

Older engines and the legacy policy path also passed `-root=`, `-virtualenv=`, `-typechecker=`, `-toolchain=`
(runtime options as flags); they are accepted and used as defaults for options a request does not carry.
Go flags may be written `-name` or `--name`, with the value after `=` or as the next argument; bool flags only
take `=value`. Parsing stops at the first non-flag argument or at `--`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class UsageError(ValueError):
    """The command line does not parse; the message names the offending argument."""


@dataclass(frozen=True)
class HostArguments:
    """What the engine told the host on its command line."""

    engine_address: str = ""
    tracing: str = ""
    verbose: int = 0
    log_to_stderr: bool = False
    log_flow: bool = False
    show_version: bool = False
    # Run programs with this script instead of the packaged exec_program.py (upstream's -use-executor).
    executor: str = ""
    # Legacy runtime-option flags: defaults for a request's ProgramInfo options.
    legacy_options: dict[str, str] = field(default_factory=dict)
    # Positional arguments after the engine address (none in current engines; kept for diagnostics).
    extra: tuple[str, ...] = ()


_BOOL_FLAGS = {"logtostderr", "logflow", "version", "alsologtostderr"}
_VALUE_FLAGS = {"tracing", "v", "use-executor", "root", "virtualenv", "typechecker", "toolchain", "binary"}
_LEGACY_OPTION_FLAGS = {"root", "virtualenv", "typechecker", "toolchain"}


def parse_host_arguments(argv: list[str]) -> HostArguments:
    """Parse the host's arguments (without the program name)."""
    values: dict[str, str] = {}
    flags: set[str] = set()
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            index += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        name, has_value, value = arg.lstrip("-").partition("=")
        if name in _BOOL_FLAGS:
            if has_value and value.lower() not in ("true", "false", "1", "0", "t", "f"):
                raise UsageError(f"invalid boolean value {value!r} for flag -{name}")
            if not has_value or value.lower() in ("true", "1", "t"):
                flags.add(name)
            index += 1
            continue
        if name in _VALUE_FLAGS:
            if not has_value:
                if index + 1 >= len(argv):
                    raise UsageError(f"flag needs an argument: -{name}")
                index += 1
                value = argv[index]
            values[name] = value
            index += 1
            continue
        raise UsageError(f"flag provided but not defined: -{name}")

    positional = argv[index:]
    verbose_text = values.get("v", "0")
    try:
        verbose = int(verbose_text)
    except ValueError:
        raise UsageError(f"invalid value {verbose_text!r} for flag -v: not an integer") from None

    return HostArguments(
        engine_address=positional[0] if positional else "",
        tracing=values.get("tracing", ""),
        verbose=verbose,
        log_to_stderr="logtostderr" in flags or "alsologtostderr" in flags,
        log_flow="logflow" in flags,
        show_version="version" in flags,
        executor=values.get("use-executor", ""),
        legacy_options={k: v for k, v in values.items() if k in _LEGACY_OPTION_FLAGS and v},
        extra=tuple(positional[1:]),
    )
