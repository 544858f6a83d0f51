"""Plugin discovery: the Pulumi packages of a program's virtualenv and the plugins they need."""

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.language_host.host import PROJECT_VENV
from toolchain.language_host.packages import (
    InstalledPackage,
    installed_packages,
    plugin_dependency,
    pulumi_packages,
    required_plugins,
)
from toolchain.language_host.virtualenv import PythonEnvironment


def add_distribution(
    site_packages: Path, name: str, version: str, *, plugin: dict | None = None, requires: tuple[str, ...] = ()
) -> None:
    """Install a fake distribution: its dist-info and a top-level package, with pulumi-plugin.json when given."""
    module = name.replace("-", "_")
    info = site_packages / f"{module}-{version}.dist-info"
    info.mkdir()
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {name}",
        f"Version: {version}",
        *(f"Requires-Dist: {r}" for r in requires),
    ]
    (info / "METADATA").write_text("\n".join(lines) + "\n")
    package = site_packages / module
    package.mkdir()
    (package / "__init__.py").write_text("")
    if plugin is not None:
        (package / "pulumi-plugin.json").write_text(json.dumps(plugin))


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> PythonEnvironment:
    """A virtualenv without pip, holding a few fake Pulumi and non-Pulumi distributions."""
    root = tmp_path_factory.mktemp("venv") / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    site_packages = next(root.glob("lib/python*/site-packages"))
    add_distribution(site_packages, "pulumi-legacy", "2.14.0", requires=("requests>=2",))
    add_distribution(
        site_packages,
        "pulumi_kubernetes",
        "4.18.1",
        plugin={"resource": True, "name": "kubernetes", "version": "4.18.1"},
    )
    add_distribution(site_packages, "pulumi-docker-build", "0.0.22", plugin={"resource": True, "name": "docker-build"})
    add_distribution(site_packages, "pulumi-policy", "1.21.0", plugin={"resource": False})
    add_distribution(site_packages, "pulumi-esc-sdk", "0.12.0")
    add_distribution(
        site_packages,
        "acme-terraform",
        "0.1.0",
        plugin={
            "resource": True,
            "name": "terraform-provider",
            "version": "0.8.0",
            "server": "https://example.test/plugins",
            "parameterization": {"name": "acme", "version": "0.1.0", "value": base64.b64encode(b"{}").decode()},
        },
    )
    add_distribution(site_packages, "pulumi-local", "2.0.0+local")
    add_distribution(site_packages, "requests", "2.32.0", requires=('pysocks; extra == "socks"',))
    add_distribution(site_packages, "pysocks", "1.7.1")
    return PythonEnvironment(venv=root, option=".venv")


def test_every_distribution_is_listed_by_normalized_name(venv):
    names = [package.name for package in installed_packages(venv)]
    assert names == sorted(names)
    assert {"pulumi-kubernetes", "pulumi-docker-build", "acme-terraform", "requests"} <= set(names)


def test_a_package_another_one_requires_is_marked_required_and_extras_do_not_count(venv):
    by_name = {package.name: package for package in installed_packages(venv)}
    assert by_name["requests"].required
    assert not by_name["pulumi-legacy"].required
    assert not by_name["pysocks"].required


def test_pulumi_packages_have_a_plugin_file_or_a_pulumi_name_and_policy_and_esc_are_left_out(venv):
    names = {package.name for package in pulumi_packages(installed_packages(venv))}
    assert names == {"pulumi-legacy", "pulumi-kubernetes", "pulumi-docker-build", "acme-terraform", "pulumi-local"}


def test_required_plugins_name_version_server_and_parameterization(venv):
    plugins = {plugin.name: plugin for plugin in required_plugins(venv)}
    # pulumi-plugin.json names the plugin; its version, or else the package's, prefixed with "v".
    assert plugins["kubernetes"].version == "v4.18.1"
    assert plugins["docker-build"].version == "v0.0.22"
    # No pulumi-plugin.json: the name without "pulumi-", the package version as semver.
    assert plugins["legacy"].version == "v2.14.0"
    provider = plugins["terraform-provider"]
    assert (provider.version, provider.server) == ("v0.8.0", "https://example.test/plugins")
    assert provider.parameterization is not None
    assert (provider.parameterization.name, provider.parameterization.value) == ("acme", b"{}")
    # "resource": false needs no plugin, and a local version ("+local") names no plugin version.
    assert "policy" not in plugins and "local" not in plugins
    assert all(plugin.kind == "resource" for plugin in plugins.values())


def test_a_package_whose_plugin_file_says_resource_false_needs_no_plugin():
    assert plugin_dependency(InstalledPackage("pulumi-x", "1.0.0", plugin_json={"resource": False})) is None


@pytest.mark.skipif(not (PROJECT_VENV / "bin" / "python").exists(), reason="needs the project's venv (make venv)")
def test_the_projects_own_venv_needs_the_kubernetes_4_and_docker_build_plugins():
    plugins = {plugin.name: plugin.version for plugin in required_plugins(PythonEnvironment(venv=PROJECT_VENV))}
    assert plugins["kubernetes"].startswith("v4.")
    assert "docker-build" in plugins
    assert "policy" not in plugins
