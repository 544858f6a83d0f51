"""The Pulumi packages a program's Python environment holds, and the plugins they need.

The engine asks `GetRequiredPackages` before it runs a program, to install (or check) the resource plugins the
program will use. Like upstream (`listPulumiPackageInfos` / `packageDependencyFromPluginJSON` in
sdk/python/cmd/pulumi-language-python/main.go) the answer comes from the installed distributions themselves:

- a distribution is a Pulumi package when its top-level package ships a `pulumi-plugin.json`, or when its name
  starts with `pulumi-` (older SDKs had no such file);
- `pulumi-plugin.json` may say `"resource": false` (no plugin: pulumi-policy does), and may name the plugin, its
  version, its download server and a parameterization;
- otherwise the plugin is the name without `pulumi-`, at the package version translated by `versions`.

Upstream lists distributions with `pip list --format json` and then finds each one's pulumi-plugin.json with a
second script; here one script, run by the environment's own interpreter, reads its site-packages through
`importlib.metadata` and does both: no pip needed, one process instead of two.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import versions
from .virtualenv import PythonEnvironment

# Known to have no plugin; kept for packages older than their `"resource": false` pulumi-plugin.json.
PACKAGES_WITHOUT_PLUGINS = frozenset({"pulumi-policy", "pulumi-esc-sdk"})

# Runs inside the program's interpreter, so only the standard library. Prints a JSON list of
# {"name", "version", "plugin_json", "required"}: `required` is whether another installed distribution depends on
# this one (what `pip list --not-required` leaves out), judged from Requires-Dist without extras.
DISCOVERY_SCRIPT = r"""
import importlib.metadata as metadata, importlib.util, json, os, re

def normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()

def plugin_json(distribution_name):
    try:
        spec = importlib.util.find_spec(distribution_name.replace("-", "_"))
    except Exception:
        return ""
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = os.path.join(str(location), "pulumi-plugin.json")
        if os.path.isfile(candidate):
            return candidate
    return ""

seen, found, required = set(), [], set()
for dist in metadata.distributions():
    name = dist.metadata["Name"]
    if not name or normalize(name) in seen:
        continue
    seen.add(normalize(name))
    for requirement in dist.requires or []:
        if "extra" in requirement.partition(";")[2]:
            continue
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
        if match:
            required.add(normalize(match.group(1)))
    found.append({"name": normalize(name), "version": dist.version, "plugin_json": plugin_json(name)})
for entry in found:
    entry["required"] = entry["name"] in required
print(json.dumps(found))
"""


class DiscoveryError(RuntimeError):
    """The environment's interpreter could not list its distributions."""


@dataclass(frozen=True)
class InstalledPackage:
    """One distribution installed in the program's environment."""

    name: str  # PEP 503-normalized: lower case, runs of -_. as one -
    version: str
    plugin_json: Mapping[str, Any] | None = None
    required: bool = False  # another installed distribution depends on it


@dataclass(frozen=True)
class PackageParameterization:
    """A parameterized package's name, version and value (pulumi-plugin.json `parameterization`)."""

    name: str
    version: str
    value: bytes


@dataclass(frozen=True)
class PluginDependency:
    """A resource plugin the program needs (a `pulumirpc.PackageDependency`)."""

    name: str
    version: str  # semver with a leading "v", as upstream sends it
    server: str = ""
    kind: str = "resource"
    parameterization: PackageParameterization | None = None
    extension: PackageParameterization | None = None
    checksums: dict[str, bytes] = field(default_factory=dict)


def installed_packages(environment: PythonEnvironment, *, timeout: float = 120.0) -> list[InstalledPackage]:
    """Every distribution the environment's interpreter sees, with its pulumi-plugin.json when it has one."""
    completed = subprocess.run(
        environment.command("-c", DISCOVERY_SCRIPT),
        env=environment.environ(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        detail = completed.stderr.strip() or f"exit code {completed.returncode}"
        raise DiscoveryError(f"failed to list the packages of {environment.python()}: {detail}")
    # Sorted by name, as `pip list` (upstream's source) sorts them.
    return sorted((_installed(entry) for entry in json.loads(completed.stdout)), key=lambda package: package.name)


def _installed(entry: Mapping[str, Any]) -> InstalledPackage:
    plugin_json = None
    if entry.get("plugin_json"):
        with open(entry["plugin_json"], encoding="utf-8") as handle:
            try:
                plugin_json = json.load(handle)
            except json.JSONDecodeError as error:
                raise DiscoveryError(f"failed to parse pulumi-plugin.json for {entry['name']}: {error}") from None
    return InstalledPackage(
        name=entry["name"], version=entry["version"], plugin_json=plugin_json, required=bool(entry.get("required"))
    )


def pulumi_packages(packages: list[InstalledPackage]) -> list[InstalledPackage]:
    """The Pulumi packages among `packages`: a pulumi-plugin.json, or a `pulumi-` name."""
    return [
        package
        for package in packages
        if package.name not in PACKAGES_WITHOUT_PLUGINS
        and (package.plugin_json is not None or package.name.startswith("pulumi-"))
    ]


def _parameterization(raw: Any) -> PackageParameterization | None:
    if not isinstance(raw, Mapping):
        return None
    # Go marshals []byte as base64, so that is how the value is written in pulumi-plugin.json.
    value = base64.b64decode(raw.get("value") or "")
    return PackageParameterization(name=raw.get("name", ""), version=raw.get("version", ""), value=value)


def plugin_dependency(package: InstalledPackage) -> PluginDependency | None:
    """The plugin a Pulumi package needs, or None when it needs none or its version cannot name one."""
    plugin = package.plugin_json or {}
    if package.plugin_json is not None and not plugin.get("resource", False):
        return None
    name = plugin.get("name") or re.sub(r"^pulumi-", "", package.name)
    version = plugin.get("version") or ""
    if not version:
        try:
            version = versions.plugin_version(package.version)
        except versions.UnsupportedVersion:
            # An epoch or a local version ("2.0.0+local") has no plugin-version translation: skipped, as upstream.
            return None
    if not version.startswith("v"):
        version = "v" + version
    return PluginDependency(
        name=name,
        version=version,
        server=plugin.get("server", ""),
        parameterization=_parameterization(plugin.get("parameterization")),
        extension=_parameterization(plugin.get("extensionParameterization")),
    )


def required_plugins(environment: PythonEnvironment) -> list[PluginDependency]:
    """The plugins the environment's Pulumi packages need, by package name."""
    dependencies = (plugin_dependency(package) for package in pulumi_packages(installed_packages(environment)))
    return [dependency for dependency in dependencies if dependency is not None]
