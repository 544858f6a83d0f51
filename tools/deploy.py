"""`make up`, `make preview`, `make destroy`: the real Pulumi engine, with local pieces only where none is configured.

    python -m tools.deploy up|preview|destroy|refresh|outputs --stack STACK [-- extra pulumi arguments]

Each choice is made once, in `engine_environment`, and said in one line:
- the CLI: a `pulumi` on PATH (the user's own) wins; else the toolchain's (`make toolchain`), with its plugins and
  language host first on PATH and automatic plugin downloads off, so a missing plugin is an error, not a download;
- the state backend: the user's (PULUMI_BACKEND_URL, PULUMI_ACCESS_TOKEN, or a `pulumi login`); else a file backend
  in `.pulumi-state/` with an empty passphrase, unless PULUMI_CONFIG_PASSPHRASE(_FILE) is set;
- the cluster: the user's (KUBECONFIG, or a current context in ~/.kube/config); else the local cluster (`make cluster`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tools import toolchain
from tools.cluster.layout import TOOLCHAIN_BIN, default_layout

ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = ROOT / ".pulumi-state"
POLICY_PACK = ROOT / "policy"
ACTIONS = ("up", "preview", "destroy", "refresh", "outputs")


class DeployError(Exception):
    """One line for the user."""


@dataclass
class Engine:
    """How to run the Pulumi CLI here: the binary, its environment, and what was chosen (one line each)."""

    cli: str
    env: dict[str, str]
    choices: list[str] = field(default_factory=list)
    project_dir: Path = ROOT

    def run(self, *args: str, check: bool = True, capture: bool = False) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.cli, *args], env=self.env, cwd=self.project_dir, text=True, capture_output=capture
        )
        if check and result.returncode != 0:
            detail = (result.stderr or "").strip().splitlines() if capture else []
            raise DeployError(f"pulumi {' '.join(args[:2])} failed" + (f": {detail[-1]}" if detail else ""))
        return result


def _own_cli(env: dict[str, str]) -> str | None:
    """A `pulumi` on PATH that is not the toolchain's."""
    path = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if Path(p).resolve() != TOOLCHAIN_BIN)
    return shutil.which("pulumi", path=path)


def _logged_in(env: dict[str, str]) -> bool:
    if env.get("PULUMI_BACKEND_URL") or env.get("PULUMI_ACCESS_TOKEN"):
        return True
    home = Path(env.get("PULUMI_HOME") or Path.home() / ".pulumi")
    try:
        return bool(json.loads((home / "credentials.json").read_text()).get("current"))
    except (OSError, ValueError):
        return False


def _cluster_configured(env: dict[str, str]) -> bool:
    if env.get("KUBECONFIG"):
        return True
    try:
        text = (Path.home() / ".kube" / "config").read_text()
    except OSError:
        return False
    # A kubeconfig with a current context; the file is YAML, and this key is always a top-level scalar.
    return any(
        line.startswith("current-context:") and line.split(":", 1)[1].strip() not in ("", '""')
        for line in text.splitlines()
    )


def engine_environment(
    base: dict[str, str] | None = None, start_cluster: bool = True, project_dir: Path = ROOT
) -> Engine:
    """The CLI, state backend and cluster to use for the project in `project_dir`, per the module's rules."""
    env = dict(os.environ if base is None else base)
    choices = []
    env.setdefault("PULUMI_SKIP_UPDATE_CHECK", "true")
    own = _own_cli(env)
    if own:
        cli = own
        choices.append(f"CLI: {own} (yours, from PATH)")
    elif (TOOLCHAIN_BIN / "pulumi").is_file():
        cli = str(TOOLCHAIN_BIN / "pulumi")
        # Every plugin the program needs is built by `make toolchain`; tools/toolchain.py says how the CLI loads them.
        env = toolchain.engine_env(env)
        try:
            toolchain.install_plugins(env)
        except (OSError, subprocess.CalledProcessError) as error:
            raise DeployError(f"installing the toolchain's plugins failed: {error}") from None
        choices.append(f"CLI: {cli} (the toolchain's, with its plugins)")
    else:
        raise DeployError("no Pulumi CLI: install one, or build the project's with `make toolchain`")

    if _logged_in(env):
        choices.append(f"state: {env.get('PULUMI_BACKEND_URL') or 'your Pulumi login'}")
    else:
        state = project_dir / STATE_DIR.name
        state.mkdir(exist_ok=True)
        env["PULUMI_BACKEND_URL"] = f"file://{state}"
        if "PULUMI_CONFIG_PASSPHRASE" not in env and "PULUMI_CONFIG_PASSPHRASE_FILE" not in env:
            # The local state is a developer's scratch space, not a secret store: an empty passphrase, said here.
            env["PULUMI_CONFIG_PASSPHRASE"] = ""
        choices.append(f"state: {env['PULUMI_BACKEND_URL']} (local; you are not logged in to Pulumi)")

    if _cluster_configured(env):
        choices.append(f"cluster: {env.get('KUBECONFIG') or '~/.kube/config'} (yours)")
    else:
        layout = default_layout()
        if start_cluster:
            result = subprocess.run([sys.executable, "-m", "tools.cluster", "up"], cwd=ROOT)
            if result.returncode != 0:
                raise DeployError("the local cluster did not start (see the line above)")
        env["KUBECONFIG"] = str(layout.kubeconfig)
        choices.append(f"cluster: {layout.kubeconfig} (local; no KUBECONFIG or current context was set)")
    return Engine(cli, env, choices, project_dir)


def select_stack(engine: Engine, stack: str) -> None:
    """Selects `stack`, creating it in the backend when it is new (its Pulumi.<stack>.yaml is already there)."""
    engine.run("stack", "select", "--create", "--non-interactive", stack, capture=True)


def pulumi_args(action: str, stack: str, extra: list[str], project_dir: Path = ROOT) -> list[str]:
    """The CLI arguments for one action; `up` and `preview` run the policy pack, as a pull request's preview does."""
    common = ["--stack", stack, "--non-interactive"]
    pack = str(project_dir / POLICY_PACK.relative_to(ROOT))
    if action == "up":
        # The preview before the update runs the policy pack first: a violation stops it before anything changes.
        return ["up", "--yes", "--policy-pack", pack, *common, *extra]
    if action == "preview":
        return ["preview", "--diff", "--policy-pack", pack, *common, *extra]
    if action == "destroy":
        return ["destroy", "--yes", "--skip-preview", *common, *extra]
    if action == "refresh":
        return ["refresh", "--yes", "--skip-preview", *common, *extra]
    return ["stack", "output", "--json", *common, *extra]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.deploy", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument("--stack", required=True, help="the stack, e.g. dev (its file Pulumi.<stack>.yaml)")
    parser.add_argument("extra", nargs="*", help="more pulumi arguments, after --")
    args = parser.parse_args(argv)
    if not (ROOT / f"Pulumi.{args.stack}.yaml").is_file():
        print(f"deploy: no stack file Pulumi.{args.stack}.yaml (STACK={args.stack})", file=sys.stderr)
        return 2
    try:
        engine = engine_environment(start_cluster=args.action != "outputs")
        for choice in engine.choices:
            print(f"deploy: {choice}", file=sys.stderr)
        select_stack(engine, args.stack)
        result = engine.run(*pulumi_args(args.action, args.stack, args.extra), check=False)
        if result.returncode == 0 and args.action == "up":
            engine.run(*pulumi_args("outputs", args.stack, []), check=False)
        return result.returncode
    except DeployError as error:
        print(f"deploy: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
