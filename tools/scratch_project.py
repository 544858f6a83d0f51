"""A copy of the project in a scratch folder, driven through the real Pulumi CLI the way `make up` drives it.

The cluster tests and `make bench-engine` change stack files (versions, canaries, bad keys) and create stacks in a
state backend; a copy keeps the work tree and the user's `.pulumi-state` untouched. The copy holds every tracked file,
and links the project's virtualenvs (the program's and the policy pack's) instead of copying them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tools import toolchain
from tools.cluster.layout import ROOT, TOOLCHAIN_BIN
from tools.deploy import pulumi_args

# A pulumi up of the dev stack builds an image; ten minutes is far past any healthy run here (about a minute).
TIMEOUT = 600


def copy_project(destination: Path) -> Path:
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in tracked.decode().split("\0"):
        if not name or name.startswith(("tests/", "bench/", ".github/")):
            continue
        source = ROOT / name
        if not source.is_file():
            continue  # deleted in the work tree, not yet committed
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    for venv in (".venv", "policy/.venv", ".venv-checkov"):
        if (ROOT / venv).exists():
            (destination / venv).symlink_to(ROOT / venv)
    return destination


@dataclass
class Project:
    """The copied project, its state backend and the cluster it deploys to."""

    path: Path
    env: dict[str, str]

    @classmethod
    def create(cls, tmp: Path, kubeconfig: Path) -> Project:
        path = copy_project(tmp / "project")
        home = tmp / "pulumi-home"
        state = tmp / "state"
        state.mkdir()
        env = toolchain.engine_env(
            {
                **os.environ,
                "PULUMI_HOME": str(home),
                "PULUMI_BACKEND_URL": f"file://{state}",
                "PULUMI_CONFIG_PASSPHRASE": "",
                "PULUMI_SKIP_UPDATE_CHECK": "true",
                "KUBECONFIG": str(kubeconfig),
            }
        )
        toolchain.install_plugins(env)
        return cls(path, env)

    def pulumi(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Runs the toolchain's CLI in the project; on failure, the assertion shows what it printed."""
        result = subprocess.run(
            [str(TOOLCHAIN_BIN / "pulumi"), *args],
            cwd=self.path,
            env=self.env,
            text=True,
            capture_output=True,
            timeout=TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
        if check:
            assert result.returncode == 0, f"pulumi {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        return result

    def action(self, action: str, stack: str, *extra: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`make up|preview|destroy|refresh`'s command line (tools/deploy.py's), for `stack`."""
        self.pulumi("stack", "select", "--create", "--non-interactive", stack)
        return self.pulumi(*pulumi_args(action, stack, list(extra), project_dir=self.path), check=check)

    def promote(self, from_stack: str, to_stack: str) -> subprocess.CompletedProcess[str]:
        """`make promote FROM=... TO=...` in the copy: FROM's deployed digests written into TO's stack file."""
        command = ["-m", "tools.promote", "--from", from_stack, "--to", to_stack, "--project-dir", str(self.path)]
        return subprocess.run(
            [sys.executable, *command], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=TIMEOUT
        )

    def outputs(self, stack: str) -> dict[str, Any]:
        return json.loads(self.pulumi("stack", "output", "--json", "--stack", stack).stdout)

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(TOOLCHAIN_BIN / "kubectl"), *args], env=self.env, text=True, capture_output=True, timeout=120
        )
        if check:
            assert result.returncode == 0, f"kubectl {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        return result

    def kube_json(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def stack_config(self, stack: str) -> dict[str, Any]:
        return YAML(typ="safe").load((self.path / f"Pulumi.{stack}.yaml").read_text())

    def edit_stack(self, stack: str, edit) -> None:
        """Loads Pulumi.<stack>.yaml, lets `edit` change the document in place, writes it back (comments kept)."""
        yaml = YAML()
        path = self.path / f"Pulumi.{stack}.yaml"
        document = yaml.load(path.read_text())
        edit(document["config"])
        with path.open("w") as out:
            yaml.dump(document, out)
