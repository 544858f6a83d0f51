"""`make render` for the real dev and prod stacks: files, outputs.json, table, validation, policy, checkov."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import re
from pathlib import Path

import pytest
import yaml

from tools import checkov_scan, render, render_output, summary_table, validate

from .conftest import make_project, stack_config

STACKS = ("dev", "prod")
DIGEST_PINNED = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """Each stack rendered by the command-line entry point into its own directory: (exit code, stdout, out dir)."""
    results = {}
    for stack in STACKS:
        out = tmp_path_factory.mktemp(f"render-{stack}")
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = render.main(["--stack", stack, "--out", str(out), "--skip-checkov"])
        results[stack] = (code, stdout.getvalue(), stderr.getvalue(), out)
    return results


def written_objects(out: Path) -> dict[str, dict]:
    """File name -> the one object in it, for every file the render wrote."""
    names = (out / render_output.INDEX_FILE).read_text().split()
    objects = {}
    for name in names:
        [obj] = list(yaml.safe_load_all((out / name).read_text()))
        objects[name] = obj
    return objects


@pytest.mark.parametrize("stack", STACKS)
def test_render_succeeds_with_no_problems(rendered, stack):
    code, _, stderr, _ = rendered[stack]

    assert stderr == ""
    assert code == 0


@pytest.mark.parametrize("stack", STACKS)
def test_every_written_object_passes_strict_validation_for_every_supported_version(rendered, stack):
    objects = written_objects(rendered[stack][3])

    assert {obj["kind"] for obj in objects.values()} >= {"Deployment", "Service", "HorizontalPodAutoscaler"}
    assert validate.validate_objects(objects.values(), validate.supported_versions()) == []


@pytest.mark.parametrize("stack", STACKS)
def test_each_object_has_its_own_stably_named_file(rendered, stack):
    objects = written_objects(rendered[stack][3])

    for name, obj in objects.items():
        assert name == f"{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"


@pytest.mark.parametrize("stack", STACKS)
def test_numbers_are_written_as_integers_not_engine_doubles(rendered, stack):
    text = (rendered[stack][3] / "deployment-breast-cancer.yaml").read_text()

    assert "containerPort: 8080\n" in text
    assert not re.search(r":\s+\d+\.0\n", text)


@pytest.mark.parametrize("stack", STACKS)
def test_outputs_json_is_what_pulumi_stack_output_json_prints(rendered, stack):
    out = rendered[stack][3]
    text = (out / "outputs.json").read_text()
    outputs = json.loads(text)
    config = stack_config(stack)

    assert text == json.dumps(outputs, indent=2, sort_keys=True) + "\n"
    assert outputs["namespace"] == config["ml-platform:namespace"]
    assert set(outputs["models"]) == set(config["ml-platform:models"])
    for name, model in outputs["models"].items():
        assert {"image", "version", "service", "endpoint"} <= set(model)
        assert DIGEST_PINNED.match(model["image"]), model["image"]
        assert model["version"] == str(config["ml-platform:models"][name]["version"])
        assert model["endpoint"].startswith(f"http://{model['service']}.{outputs['namespace']}.svc.cluster.local:")


def table_rows(stdout: str) -> dict[str, list[str]]:
    """The summary table as {model column: the other columns}, split at the header's column starts."""
    lines = stdout.splitlines()
    header = lines[0]
    starts = [header.index(title) for title in summary_table.HEADER]
    rows = {}
    for line in lines[1:]:
        if line.startswith("render: "):
            break
        cells = [line[a:b].strip() for a, b in zip(starts, starts[1:] + [None], strict=True)]
        rows[cells[0]] = cells[1:]
    return rows


@pytest.mark.parametrize("stack", STACKS)
def test_the_summary_table_lists_every_model(rendered, stack):
    _, stdout, _, out = rendered[stack]
    outputs = json.loads((out / "outputs.json").read_text())
    hpas = {
        obj["metadata"]["name"]: obj
        for obj in written_objects(out).values()
        if obj["kind"] == "HorizontalPodAutoscaler"
    }

    rows = table_rows(stdout)

    assert stdout.splitlines()[0].split() == [
        "MODEL",
        "VERSION",
        "IMAGE",
        "MODEL",
        "IMAGE",
        "REPLICAS",
        "CPU",
        "MEMORY",
    ]
    assert set(rows) == set(outputs["models"])
    for name, model in outputs["models"].items():
        version, image, model_image, replicas, cpu, memory = rows[name]
        assert (version, image, model_image) == (model["version"], model["image"], model.get("modelImage", "-"))
        assert replicas == f"{hpas[name]['spec']['minReplicas']}-{hpas[name]['spec']['maxReplicas']}"
        assert cpu and memory
    assert stdout.splitlines()[-1].startswith(f"render: {stack}: ")


def test_a_canary_renders_valid_and_has_its_own_row(tmp_path):
    config = stack_config("prod")
    canary_image = "registry.example.com/ml/breast-cancer@sha256:" + "1" * 64
    config["ml-platform:models"]["breast-cancer"]["canary"] = {"version": "1.1.0", "image": canary_image, "weight": 20}
    project = make_project(tmp_path / "project", "canary", config)
    stdout = io.StringIO()

    with contextlib.redirect_stdout(stdout):
        code = render.main(
            ["--stack", "canary", "--project-dir", str(project), "--out", str(tmp_path / "out"), "--skip-checkov"]
        )

    assert code == 0
    rows = table_rows(stdout.getvalue())
    assert rows["breast-cancer (canary)"][:2] == ["1.1.0", canary_image]
    assert rows["breast-cancer"][0] == "1.0.0"


@pytest.mark.skipif(not checkov_scan.available(), reason="checkov is not installed (`make test` builds .venv-checkov)")
@pytest.mark.parametrize("stack", STACKS)
def test_checkov_finds_no_failed_checks(rendered, stack):
    out = rendered[stack][3]
    files = [out / name for name in (out / render_output.INDEX_FILE).read_text().split()]

    result = checkov_scan.scan_files(files)

    assert [str(finding) for finding in result.failed] == []
    assert result.parsing_errors == []
    assert result.passed > 0
    assert all(skip.suppress_reason.strip() for skip in result.skipped), "every checkov skip needs a written reason"


def test_a_broken_object_fails_naming_the_object_and_the_field():
    good = render.render_stack("dev")
    objects = copy.deepcopy(good.objects)
    deployment = next(obj for obj in objects if obj["kind"] == "Deployment")
    service = next(obj for obj in objects if obj["kind"] == "Service")
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolice"] = "Always"
    service["apiVersion"] = "v2"
    broken = render.Rendered(stack="dev", config=good.config, objects=objects, outputs=good.outputs)

    problems = render.check(broken, files=None, run_checkov=False).problems

    deployment_name = f"Deployment {deployment['metadata']['namespace']}/{deployment['metadata']['name']}"
    service_name = f"Service {service['metadata']['namespace']}/{service['metadata']['name']}"
    assert (
        f"schema: {deployment_name}: spec.template.spec.containers[0].imagePullPolice: unknown field "
        f"(Kubernetes {validate.version_span(validate.supported_versions())})" in problems
    )
    assert any(line.startswith(f"schema: {service_name}: apiVersion: ") and "'v2'" in line for line in problems)


def test_a_policy_violation_fails_naming_the_object_and_the_field():
    good = render.render_stack("prod")
    objects = copy.deepcopy(good.objects)
    deployment = next(obj for obj in objects if obj["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example.com/ml/breast-cancer:latest"
    broken = render.Rendered(stack="prod", config=good.config, objects=objects, outputs=good.outputs)

    problems = render.check(broken, files=None, run_checkov=False).problems

    name = f"Deployment {deployment['metadata']['namespace']}/{deployment['metadata']['name']}"
    assert any(line.startswith(f"policy: {name}: spec.template.spec.containers[0].image: ") for line in problems), (
        problems
    )
