"""The GitHub workflows: valid against GitHub's workflow schema (check-jsonschema's built-in copy, offline), and
doing what docs/delivery.md says they do."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def check_jsonschema(schema: str, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def load(name: str) -> dict:
    # PyYAML reads the key `on` as True (YAML 1.1); put it back.
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    workflow["on"] = workflow.pop(True)
    return workflow


def steps_using(workflow: dict, action: str) -> list[dict]:
    return [
        step
        for job in workflow["jobs"].values()
        for step in job.get("steps", [])
        if step.get("uses", "").startswith(f"{action}@")
    ]


def test_the_three_workflows_exist():
    assert {p.name for p in WORKFLOWS} >= {"pull-request.yml", "deploy.yml", "promote.yml"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_the_github_workflow_schema(path):
    result = check_jsonschema("vendor.github-workflows", path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dependabot_config_matches_its_schema():
    result = check_jsonschema("vendor.dependabot", ROOT / ".github" / "dependabot.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  build:\n    runs-on: ubuntu-24.04\n    stepz: []\n")
    assert check_jsonschema("vendor.github-workflows", broken).returncode != 0


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_version(path):
    uses = re.findall(r"uses:\s*(\S+)", path.read_text())
    assert uses
    for reference in uses:
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})", reference), reference


def test_pull_requests_run_tests_render_both_stacks_and_preview_with_the_policy_pack():
    workflow = load("pull-request.yml")
    assert "pull_request" in workflow["on"]
    runs = [step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]]
    assert "make test" in runs
    assert "make render STACK=${{ matrix.stack }}" in runs
    assert workflow["jobs"]["render"]["strategy"]["matrix"]["stack"] == ["dev", "prod"]
    preview = workflow["jobs"]["preview"]
    assert {entry["stack"] for entry in preview["strategy"]["matrix"]["include"]} == {"dev", "prod"}
    # The same command as on a laptop: `make preview` (tools/deploy.py adds --diff and the policy pack).
    preview_runs = [step.get("run", "") for step in preview["steps"]]
    assert any('make preview STACK="$STACK"' in run for run in preview_runs)
    (cli,) = steps_using(workflow, "pulumi/actions")
    assert "command" not in cli.get("with", {}), "the action only installs the CLI"
    assert any("gh pr comment" in run for run in preview_runs)
    assert preview["permissions"]["pull-requests"] == "write"
    assert set(preview["needs"]) == {"test", "render"}


def test_merges_deploy_dev_and_prod_only_through_the_protected_environment():
    workflow = load("deploy.yml")
    assert workflow["on"]["push"]["branches"] == ["main"]
    dev, prod = workflow["jobs"]["dev"], workflow["jobs"]["prod"]
    assert prod["environment"] == "production"
    assert prod["needs"] == "dev"
    assert [s["run"] for s in dev["steps"] if s.get("run", "").startswith("make up")] == ["make up STACK=dev"]
    assert [s["run"] for s in prod["steps"] if s.get("run", "").startswith("make up")] == ["make up STACK=prod"]
    assert all("command" not in s.get("with", {}) for s in steps_using(workflow, "pulumi/actions"))
    assert "secrets.KUBECONFIG_PROD }}" not in yaml.safe_dump(dev)
    assert workflow["concurrency"]["cancel-in-progress"] is False


def test_promotion_is_dispatched_by_hand_and_opens_a_pull_request():
    workflow = load("promote.yml")
    assert set(workflow["on"]["workflow_dispatch"]["inputs"]) == {"from", "to", "model"}
    job = workflow["jobs"]["promote"]
    assert any(
        'make --silent --no-print-directory promote FROM="$FROM" TO="$TO" MODEL="$MODEL"' in s.get("run", "")
        for s in job["steps"]
    )
    (pull_request,) = steps_using(workflow, "peter-evans/create-pull-request")
    assert pull_request["with"]["add-paths"] == "Pulumi.${{ inputs.to }}.yaml"
    # Inputs never reach a shell script as ${{ }} text (script injection).
    assert all("${{" not in s.get("run", "") for s in job["steps"])


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_secrets_used_are_the_documented_ones(path):
    documented = (ROOT / "docs" / "delivery.md").read_text()
    text = path.read_text()
    # Direct references, and the names a matrix hands to `secrets[matrix.kubeconfig]`.
    used = re.findall(r"secrets\.([A-Z_]+)", text) + re.findall(r"kubeconfig: ([A-Z_]+)", text)
    assert used
    for secret in used:
        assert f"`{secret}`" in documented, secret


def test_the_lock_refresh_re_pins_only_the_hash_lock_and_opens_a_pull_request():
    workflow = load("lock-refresh.yml")
    assert workflow["on"]["schedule"] and "workflow_dispatch" in workflow["on"]
    job = workflow["jobs"]["refresh"]
    assert any(s.get("run") == "make lock LOCK_ARGS=--upgrade" for s in job["steps"])
    (pull_request,) = steps_using(workflow, "peter-evans/create-pull-request")
    assert pull_request["with"]["add-paths"] == "model/requirements.lock"


@pytest.mark.parametrize("name", ["promote.yml", "lock-refresh.yml"])
def test_pull_requests_opened_by_workflows_can_start_their_own_checks(name):
    """A pull request opened with GITHUB_TOKEN starts no workflow; PULL_REQUEST_TOKEN, when set, is used instead."""
    (pull_request,) = steps_using(load(name), "peter-evans/create-pull-request")
    assert pull_request["with"]["token"] == "${{ secrets.PULL_REQUEST_TOKEN || github.token }}"
