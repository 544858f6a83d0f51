"""The offline harness runs a Pulumi program under mocks the way the engine would."""

import textwrap
from pathlib import Path

import pytest

from tools import stack_run

PROGRAM = """
import pulumi
import pulumi_docker_build as docker_build
import pulumi_kubernetes as k8s

config = pulumi.Config()
if config.get("fail"):
    raise pulumi.RunError("Pulumi.t.yaml: first problem\\nPulumi.t.yaml: second problem")
replicas = config.require_object("shape")["replicas"]
image = docker_build.Image(
    "img",
    tags=["localhost:5001/demo:1.0"],
    push=True,
    context=docker_build.BuildContextArgs(location="./ctx"),
    platforms=["linux/amd64"],
)
pinned = image.digest.apply(lambda digest: f"localhost:5001/demo@{digest}")
k8s.apps.v1.Deployment(
    "web",
    metadata=k8s.meta.v1.ObjectMetaArgs(name="web", namespace="ns"),
    spec=k8s.apps.v1.DeploymentSpecArgs(
        replicas=replicas,
        selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"app": "web"}),
        template=k8s.core.v1.PodTemplateSpecArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(labels={"app": "web"}),
            spec=k8s.core.v1.PodSpecArgs(
                containers=[k8s.core.v1.ContainerArgs(name="web", image=pinned)],
            ),
        ),
    ),
)
pulumi.export("image", pinned)
pulumi.export("ref", image.ref)
pulumi.export("token", config.require_secret("token"))
pulumi.export("namespace", "ns")
"""


def make_project(tmp_path: Path, config: str, context_file: str = "FROM scratch\n") -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "Pulumi.yaml").write_text("name: demo\nruntime: python\n")
    (tmp_path / "Pulumi.t.yaml").write_text(textwrap.dedent(config))
    (tmp_path / "__main__.py").write_text(PROGRAM)
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text(context_file)
    return tmp_path


CONFIG = """
config:
  demo:shape:
    replicas: 2
  demo:token:
    secure: AAABAMcn
"""


def test_resources_are_recorded_in_order_with_camel_case_inputs(tmp_path):
    run = stack_run.run_stack("t", project_dir=make_project(tmp_path, CONFIG))

    assert [r.type for r in run.resources] == ["docker-build:index:Image", "kubernetes:apps/v1:Deployment"]
    [deployment] = run.manifests()
    assert deployment["apiVersion"] == "apps/v1"
    assert deployment["kind"] == "Deployment"
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["selector"]["matchLabels"] == {"app": "web"}


def test_image_digest_comes_from_the_build_context_and_reaches_the_deployment(tmp_path):
    run = stack_run.run_stack("t", project_dir=make_project(tmp_path, CONFIG))

    image = run.outputs["image"]
    assert image.startswith("localhost:5001/demo@sha256:")
    assert len(image.split("sha256:")[1]) == 64
    [deployment] = run.manifests()
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == image


def test_a_pushed_image_gets_docker_builds_digest_and_ref_outputs(tmp_path):
    run = stack_run.run_stack("t", project_dir=make_project(tmp_path, CONFIG))

    [image] = run.of_type("docker-build:index:Image")
    assert image.outputs["digest"] == "sha256:" + image.outputs["contextHash"]
    # docker-build's `ref` is the first tag with the digest: `<repo>:<tag>@sha256:...`.
    assert run.outputs["ref"] == f"localhost:5001/demo:1.0@{image.outputs['digest']}"


def test_an_image_that_is_not_pushed_has_no_digest_as_with_docker_build(tmp_path):
    project = make_project(tmp_path, CONFIG)
    (project / "__main__.py").write_text(PROGRAM.replace("push=True", "push=False"))

    [image] = stack_run.run_stack("t", project_dir=project).of_type("docker-build:index:Image")

    assert image.outputs["digest"] == ""
    assert image.outputs["ref"] == "localhost:5001/demo:1.0"


def test_digest_changes_with_the_context_and_is_stable_without_changes(tmp_path):
    one = make_project(tmp_path / "one", CONFIG)
    two = make_project(tmp_path / "two", CONFIG, context_file="FROM scratch\nCOPY x /x\n")

    first = stack_run.run_stack("t", project_dir=one).outputs["image"]
    again = stack_run.run_stack("t", project_dir=one).outputs["image"]
    other = stack_run.run_stack("t", project_dir=two).outputs["image"]

    assert first == again
    assert first != other


def test_dockerignored_files_do_not_change_the_digest(tmp_path):
    project = make_project(tmp_path, CONFIG)
    (project / "ctx" / ".dockerignore").write_text("__pycache__\n*.log\n")
    before = stack_run.run_stack("t", project_dir=project).outputs["image"]

    (project / "ctx" / "__pycache__").mkdir()
    (project / "ctx" / "__pycache__" / "x.pyc").write_bytes(b"junk")
    (project / "ctx" / "build.log").write_text("noise")
    assert stack_run.run_stack("t", project_dir=project).outputs["image"] == before

    (project / "ctx" / "app.py").write_text("print('changed')")
    assert stack_run.run_stack("t", project_dir=project).outputs["image"] != before


def test_outputs_print_secrets_as_the_cli_does(tmp_path):
    run = stack_run.run_stack("t", project_dir=make_project(tmp_path, CONFIG))

    assert run.outputs["token"] == "[secret]"
    assert run.outputs["namespace"] == "ns"


def test_config_argument_replaces_the_stack_file(tmp_path):
    project = make_project(tmp_path, CONFIG)

    run = stack_run.run_stack("t", project_dir=project, config={"demo:shape": {"replicas": 5}, "demo:token": "x"})

    assert run.manifests()[0]["spec"]["replicas"] == 5


def test_run_error_becomes_program_error_with_one_problem_per_line(tmp_path):
    project = make_project(tmp_path, CONFIG)

    with pytest.raises(stack_run.ProgramError) as caught:
        stack_run.run_stack("t", project_dir=project, config={"demo:fail": "yes"})

    assert caught.value.problems == ["Pulumi.t.yaml: first problem", "Pulumi.t.yaml: second problem"]


def test_runs_are_isolated_from_each_other(tmp_path):
    project = make_project(tmp_path, CONFIG)
    with pytest.raises(stack_run.ProgramError):
        stack_run.run_stack("t", project_dir=project, config={"demo:fail": "yes"})

    run = stack_run.run_stack("t", project_dir=project)

    assert len(run.resources) == 2
    assert run.outputs["namespace"] == "ns"


def test_missing_stack_file_names_the_file_and_the_stacks_there(tmp_path):
    project = make_project(tmp_path, CONFIG)

    with pytest.raises(stack_run.StackFileError, match=r"Pulumi.nope.yaml: no such stack file \(stacks here: t\)"):
        stack_run.run_stack("nope", project_dir=project)


def test_invalid_yaml_names_the_line(tmp_path):
    project = make_project(tmp_path, "config:\n  demo:shape: [unclosed\n")

    with pytest.raises(stack_run.StackFileError, match=r"Pulumi.t.yaml: line \d+: not valid YAML"):
        stack_run.run_stack("t", project_dir=project)


def test_whole_numbers_come_back_as_integers_as_the_api_and_the_cli_want_them(tmp_path):
    run = stack_run.run_stack("t", project_dir=make_project(tmp_path, CONFIG))

    replicas = run.manifests()[0]["spec"]["replicas"]
    assert replicas == 2 and isinstance(replicas, int)


def test_an_object_without_a_name_gets_one_as_the_provider_would_give_it():
    import pulumi_kubernetes as k8s

    def build():
        settings = k8s.core.v1.ConfigMap(
            "settings", metadata=k8s.meta.v1.ObjectMetaArgs(namespace="ns"), data={"a": "b"}
        )
        return settings.metadata.name

    registered, name = stack_run.run_component(build)

    assert "name" not in registered[0].inputs["metadata"]
    assert name.startswith("settings-") and len(name) == len("settings-") + 8
    assert stack_run.run_component(build)[1] == name  # stable, so renders are reproducible
