"""The built toolchain as the Pulumi CLI must see it: its versions table, and its provider plugins installed.

The CLI prefers a plugin on PATH to an installed one and warns about each ("using ... from $PATH"), so the toolchain
installs its providers into the plugin cache (`pulumi plugin install --file`) and runs the engine with
PULUMI_IGNORE_AMBIENT_PLUGINS: the engine then loads exactly the versions built, silently, and never downloads one
(PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: nothing could be downloaded here anyway). The language host sits
beside the CLI in .toolchain/bin, where the CLI looks for its bundled language hosts first.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tools.cluster.layout import ROOT, TOOLCHAIN_BIN

VERSIONS_FILE = ROOT / "toolchain" / "versions.env"
# (plugin name, the versions.env entry of its version); the binary is .toolchain/bin/pulumi-resource-<name>.
PROVIDERS = (("kubernetes", "PULUMI_KUBERNETES_VERSION"), ("docker-build", "PULUMI_DOCKER_BUILD_VERSION"))


def versions() -> dict[str, str]:
    """toolchain/versions.env as a dict (plain NAME=value lines; # starts a comment line)."""
    table = {}
    for line in VERSIONS_FILE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            table[name.strip()] = value.strip()
    return table


def engine_env(env: dict[str, str]) -> dict[str, str]:
    """`env` set up to run the toolchain's CLI: its folder first on PATH, only installed plugins, no downloads."""
    return {
        **env,
        "PATH": os.pathsep.join([str(TOOLCHAIN_BIN), env.get("PATH", "")]),
        "PULUMI_IGNORE_AMBIENT_PLUGINS": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    }


def plugin_home(env: dict[str, str]) -> Path:
    return Path(env.get("PULUMI_HOME") or Path.home() / ".pulumi") / "plugins"


def install_plugins(env: dict[str, str]) -> list[str]:
    """Installs each provider the toolchain built into the CLI's plugin cache, unless that version is there.
    Returns what it installed (`kubernetes v4.25.0`, ...)."""
    table = versions()
    installed = []
    for name, key in PROVIDERS:
        version = f"v{table[key]}"
        binary = TOOLCHAIN_BIN / f"pulumi-resource-{name}"
        if (plugin_home(env) / f"resource-{name}-{version}" / binary.name).exists():
            continue
        if not binary.exists():
            raise FileNotFoundError(f"{binary} is missing (run `make toolchain`)")
        subprocess.run(
            [str(TOOLCHAIN_BIN / "pulumi"), "plugin", "install", "resource", name, version, "--file", str(binary)],
            env=env,
            check=True,
            capture_output=True,
        )
        installed.append(f"{name} {version}")
    return installed
