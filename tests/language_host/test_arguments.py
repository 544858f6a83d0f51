"""The host's command line: what the engine passes (plugin.go `buildPluginArguments`), parsed as Go's flag does."""

import pytest

from toolchain.language_host.arguments import UsageError, parse_host_arguments


def test_the_engine_address_is_the_last_argument():
    arguments = parse_host_arguments(["127.0.0.1:40123"])
    assert arguments.engine_address == "127.0.0.1:40123"
    assert arguments.tracing == "" and arguments.verbose == 0 and not arguments.log_to_stderr


def test_logging_and_tracing_flags_flow_through_before_the_address():
    arguments = parse_host_arguments(["--logtostderr", "-v=9", "--tracing", "file:///tmp/t.json", "127.0.0.1:1"])
    assert arguments.log_to_stderr
    assert arguments.verbose == 9
    assert arguments.tracing == "file:///tmp/t.json"
    assert arguments.engine_address == "127.0.0.1:1"


@pytest.mark.parametrize("flag", [["-tracing=x"], ["--tracing=x"], ["-tracing", "x"], ["--tracing", "x"]])
def test_value_flags_take_one_or_two_dashes_and_an_equals_sign_or_the_next_argument(flag):
    assert parse_host_arguments([*flag, "addr"]).tracing == "x"


def test_legacy_runtime_option_flags_become_option_defaults():
    arguments = parse_host_arguments(["-root=/p", "-virtualenv=venv", "-typechecker=mypy", "addr"])
    assert arguments.legacy_options == {"root": "/p", "virtualenv": "venv", "typechecker": "mypy"}


def test_no_address_is_allowed_for_a_host_the_engine_attaches_to_later():
    assert parse_host_arguments([]).engine_address == ""


def test_version_flag():
    assert parse_host_arguments(["-version"]).show_version


def test_parsing_stops_at_the_first_positional_argument():
    arguments = parse_host_arguments(["addr", "-v=3"])
    assert arguments.engine_address == "addr"
    assert arguments.verbose == 0
    assert arguments.extra == ("-v=3",)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-bogus", "addr"], "flag provided but not defined: -bogus"),
        (["-tracing"], "flag needs an argument: -tracing"),
        (["-v=lots"], "invalid value 'lots' for flag -v"),
        (["-logtostderr=maybe"], "invalid boolean value"),
    ],
)
def test_bad_command_lines_are_named(argv, message):
    with pytest.raises(UsageError, match=message):
        parse_host_arguments(argv)
