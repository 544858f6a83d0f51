"""Runtime options: upstream's parseOptions cases (main_test.go), and the toolchains this host serves."""

from pathlib import Path

import pytest

from toolchain.language_host.options import OptionsError, Toolchain, Typechecker, options_from_mapping


def test_defaults():
    options = options_from_mapping("root", "programDir", {})
    assert options.root == Path("root")
    assert options.program_dir == Path("programDir")
    assert options.toolchain is Toolchain.AUTO
    assert options.typechecker is Typechecker.NONE
    assert options.virtualenv == "" and options.virtualenv_path is None


def test_every_option():
    options = options_from_mapping(
        "root", "programDir", {"virtualenv": "myvenv", "toolchain": "uv", "typechecker": "mypy"}
    )
    assert (options.virtualenv, options.toolchain, options.typechecker) == ("myvenv", Toolchain.UV, Typechecker.MYPY)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"toolchain": "npm"}, "unsupported toolchain option: npm"),
        ({"typechecker": "pytype"}, "unsupported typechecker option: pytype"),
        ({"virtualenv": 3}, "virtualenv option must be a string"),
    ],
)
def test_bad_options_are_named(options, message):
    with pytest.raises(OptionsError, match=message):
        options_from_mapping("root", "programDir", options)


@pytest.mark.parametrize("options", [{}, {"toolchain": "pip"}])
def test_a_plugin_without_a_virtualenv_gets_venv(options):
    assert options_from_mapping("root", "programDir", options, is_plugin=True).virtualenv == "venv"


@pytest.mark.parametrize("options", [{"virtualenv": "myvenv"}, {"toolchain": "poetry"}, {"toolchain": "uv"}])
def test_a_plugin_keeps_its_virtualenv_or_its_own_toolchain(options):
    assert options_from_mapping("root", "programDir", options, is_plugin=True).virtualenv == options.get(
        "virtualenv", ""
    )


def test_a_relative_virtualenv_is_relative_to_the_project_root(tmp_path):
    options = options_from_mapping(str(tmp_path), str(tmp_path / "src"), {"virtualenv": ".venv"})
    assert options.virtualenv_path == tmp_path / ".venv"


def test_an_absolute_virtualenv_stays(tmp_path):
    assert options_from_mapping(str(tmp_path), str(tmp_path), {"virtualenv": "/opt/venv"}).virtualenv_path == Path(
        "/opt/venv"
    )


def test_legacy_flags_fill_only_what_the_options_lack():
    options = options_from_mapping(
        "", "prog", {"virtualenv": "v2"}, defaults={"virtualenv": "v1", "typechecker": "mypy", "root": "/r"}
    )
    assert (options.virtualenv, options.typechecker, options.root) == ("v2", Typechecker.MYPY, Path("/r"))


def test_pip_is_served(tmp_path):
    assert options_from_mapping(str(tmp_path), str(tmp_path), {"toolchain": "pip"}).toolchain_error() is None
    assert options_from_mapping(str(tmp_path), str(tmp_path), {}).toolchain_error() is None


@pytest.mark.parametrize("lock", ["uv.lock", "poetry.lock"])
def test_auto_follows_a_lock_file_and_explains_that_only_pip_is_served(tmp_path, lock):
    (tmp_path / lock).write_text("")
    options = options_from_mapping(str(tmp_path), str(tmp_path / "src"), {})
    assert options.resolved_toolchain().value == lock.split(".")[0]
    assert "detected from its lock file" in options.toolchain_error()


def test_an_explicit_toolchain_other_than_pip_is_refused_with_the_fix():
    error = options_from_mapping("r", "r", {"toolchain": "poetry"}).toolchain_error()
    assert "'poetry' (set in Pulumi.yaml)" in error and "toolchain: pip" in error
