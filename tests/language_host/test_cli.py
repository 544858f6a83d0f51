"""End to end: the real Pulumi CLI runs a tiny Python program and a policy pack through the project's host.

The CLI is the one `toolchain/build.sh` builds into .toolchain/bin (or $LANGUAGE_HOST_PULUMI); these tests skip
without it. The state lives
in a file backend under the test's temporary directory, and nothing needs a provider plugin: the program makes
only a component resource beside the stack.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.language_host.host import PROJECT_VENV, REPO, write

# LANGUAGE_HOST_PULUMI points the tests at another build of the CLI.
PULUMI = Path(os.environ.get("LANGUAGE_HOST_PULUMI", REPO / ".toolchain" / "bin" / "pulumi"))

pytestmark = pytest.mark.skipif(
    not PULUMI.exists(), reason=f"needs the Pulumi CLI at {PULUMI} (toolchain/build.sh pulumi)"
)

PROGRAM = """
import pulumi

config = pulumi.Config()
mode = config.get("mode") or "ok"


class Box(pulumi.ComponentResource):
    def __init__(self, name: str) -> None:
        super().__init__("hosttest:index:Box", name, {}, None)
        self.register_outputs({})


def explode() -> None:
    raise ValueError("boom from the program")


if mode == "run-error":
    raise pulumi.RunError("the stack is misconfigured: mode run-error")
if mode == "exception":
    explode()

print("hello from the program")
Box("box")
pulumi.export("greeting", config.require("greeting"))
pulumi.export("token", config.require_secret("token"))
pulumi.export("where", f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}")
"""

PACK = """
import json
import os

from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy

# What the host started the pack with: the stack and its config, from the engine's ConfigureStack.
STACK = os.environ.get("PULUMI_STACK", "?")
GREETING = json.loads(os.environ.get("PULUMI_CONFIG", "{}")).get("hosttest:greeting", "?")


def no_boxes(args, report_violation):
    if args.resource_type == "hosttest:index:Box":
        report_violation(f"box {args.name} seen in stack {STACK} (greeting {GREETING})")


PolicyPack(
    name="tiny-pack",
    enforcement_level=EnforcementLevel.ADVISORY,
    policies=[ResourceValidationPolicy(name="no-boxes", description="Reports every box.", validate=no_boxes)],
)
"""


@dataclass
class Cli:
    """The CLI in a throwaway workspace: file backend, its own PULUMI_HOME, no plugin downloads."""

    program: Path
    env: dict[str, str]

    def __call__(self, *args: str, check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        completed = subprocess.run(
            [str(PULUMI), *args, "--non-interactive"],
            cwd=cwd or self.program,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if check and completed.returncode != 0:
            pytest.fail(
                f"pulumi {' '.join(args)} failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}"
            )
        return completed


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    (tmp_path / "state").mkdir()
    program = tmp_path / "program"
    write(
        program / "Pulumi.yaml",
        f"""
        name: hosttest
        runtime:
          name: python
          options:
            toolchain: pip
            virtualenv: {PROJECT_VENV}
        """,
    )
    write(program / "__main__.py", PROGRAM)
    env = {
        **os.environ,
        "PULUMI_BACKEND_URL": f"file://{tmp_path / 'state'}",
        "PULUMI_CONFIG_PASSPHRASE": "language-host-tests",
        "PULUMI_HOME": str(tmp_path / "home"),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        # The engine finds pulumi-language-python on PATH: linked beside pulumi, or the shim itself.
        "PATH": os.pathsep.join([str(PULUMI.parent), str(REPO / "toolchain" / "bin"), os.environ.get("PATH", "")]),
        "PULUMI_LANGUAGE_PYTHON": sys.executable,
    }
    cli = Cli(program=program, env=env)
    cli("stack", "init", "dev")
    cli("config", "set", "greeting", "hello")
    cli("config", "set", "--secret", "token", "s3cr3t")
    return cli


def output(completed: subprocess.CompletedProcess[str]) -> str:
    return completed.stdout + completed.stderr


def test_up_runs_the_program_with_its_config_and_secrets(cli: Cli):
    up = cli("up", "--yes")
    assert "hello from the program" in up.stdout
    assert "hosttest:index:Box" in up.stdout
    assert cli("stack", "output", "greeting").stdout.strip() == "hello"
    assert cli("stack", "output", "token", "--show-secrets").stdout.strip() == "s3cr3t"
    assert cli("stack", "output", "token").stdout.strip() == "[secret]"
    assert cli("stack", "output", "where").stdout.strip() == "organization/hosttest/dev"


def test_a_run_error_is_its_message_alone_and_fails_the_command(cli: Cli):
    cli("config", "set", "mode", "run-error")
    preview = cli("preview", check=False)
    assert preview.returncode != 0
    assert "the stack is misconfigured: mode run-error" in output(preview)
    assert "Traceback" not in output(preview)


def test_an_unhandled_exception_shows_the_users_traceback_once(cli: Cli):
    cli("config", "set", "mode", "exception")
    preview = cli("preview", check=False)
    assert preview.returncode != 0
    text = output(preview)
    assert text.count("Traceback (most recent call last)") == 1, text
    assert "Program failed with an unhandled exception" in text
    assert re.search(r'File ".*__main__\.py", line \d+, in explode', text)
    assert "ValueError: boom from the program" in text
    # The traceback starts at the user's program: nothing of the host's exec script or runpy.
    assert "exec_program.py" not in text and "runpy" not in text


def pack_virtualenv(pack: Path) -> None:
    """The pack's own .venv; a .pth file lends it the project's pulumi and pulumi-policy, so nothing is downloaded."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(pack / ".venv")], check=True)
    site_packages = next((pack / ".venv").glob("lib/python*/site-packages"))
    project_site_packages = next(PROJECT_VENV.glob("lib/python*/site-packages"))
    (site_packages / "project.pth").write_text(f"{project_site_packages}\n")


def test_a_preview_runs_a_python_policy_pack_from_its_own_virtualenv(cli: Cli, tmp_path: Path):
    pack = tmp_path / "policy"
    write(pack / "PulumiPolicy.yaml", "runtime:\n  name: python\n  options:\n    virtualenv: .venv\n")
    write(pack / "__main__.py", PACK)
    pack_virtualenv(pack)

    preview = cli("preview", "--policy-pack", str(pack))
    text = output(preview)
    assert "tiny-pack" in text
    assert "box box seen in stack dev (greeting hello)" in text


def test_the_projects_own_policy_pack_runs_in_a_preview(cli: Cli, tmp_path: Path):
    # A copy of policy/ (its __main__ imports the `policy` package, and the shared `conventions`, which reads the
    # project's name from Pulumi.yaml, from its parent directory), with its own .venv.
    pack = tmp_path / "copy" / "policy"
    shutil.copytree(REPO / "policy", pack, ignore=shutil.ignore_patterns(".venv", "__pycache__"))
    for shared in ("conventions.py", "Pulumi.yaml"):
        shutil.copy(REPO / shared, pack.parent / shared)
    pack_virtualenv(pack)

    preview = cli("preview", "--policy-pack", str(pack))
    assert re.search(r"ml-platform-policies@v[\d.]+ \(local: ", output(preview))
