"""The program through the real Pulumi engine onto the local cluster (a kwok node): the main job, for real.

One stack's life, in order: preview with the policy pack, `up` (image built and pushed by docker-build, every object
admitted, the rollout awaited), idempotence, promotion to prod, a canary's life, bad input, Pod Security
enforcement, an interrupted `up`, and `destroy`. The tests share the project copy and its state, so they run in
the order written; each asserts one behaviour.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time

import pytest

from tools.cluster.layout import ROOT, TOOLCHAIN_BIN
from tools.scratch_project import Project

DEV_NAMESPACE = "ml-dev"
PROD_NAMESPACE = "ml-prod"
MODEL = "breast-cancer"
# The dev stack's one runtime, and the model's own small image (delivered by an init container).
RUNTIME_REF = re.compile(r"^127\.0\.0\.1:5000/model-server@sha256:[0-9a-f]{64}$")
MODEL_REF = re.compile(rf"^127\.0\.0\.1:5000/models/{MODEL}@sha256:[0-9a-f]{{64}}$")
TRACEBACK = "Traceback (most recent call last)"


def deployment(project: Project, namespace: str, name: str = MODEL) -> dict:
    return project.kube_json("deployment", name, "-n", namespace)


def objects_in(project: Project, namespace: str) -> list[str]:
    kinds = "deployments,services,serviceaccounts,horizontalpodautoscalers,poddisruptionbudgets,networkpolicies"
    listed = project.kube_json(kinds, "-n", namespace)["items"]
    # Every namespace has the `default` ServiceAccount, made by the controller-manager, not by the stack.
    return sorted(f"{o['kind']}/{o['metadata']['name']}" for o in listed if o["metadata"]["name"] != "default")


def test_preview_runs_the_policy_pack_inside_the_engine(project: Project):
    for stack in ("dev", "prod"):
        result = project.action("preview", stack)
        # The engine ran the pack (it lists the packs it ran) and the pack found nothing.
        assert "Policy Packs run:" in result.stdout and "ml-platform-policies" in result.stdout, result.stdout[-2000:]
        assert "mandatory" not in result.stdout


def test_a_stack_that_breaks_a_rule_fails_the_preview_naming_the_rule_and_the_object(project: Project, tmp_path):
    # A program change that adds a privileged pod beside the model: the pack, run by the engine, refuses it.
    broken = Project(project.path.parent / "broken", project.env)
    subprocess.run(["cp", "-a", str(project.path), str(broken.path)], check=True)
    with (broken.path / "__main__.py").open("a") as program:
        program.write(
            "\nimport pulumi_kubernetes as k8s\n"
            "k8s.core.v1.Pod('debug', metadata={'name': 'debug', 'namespace': namespace}, spec={'containers': [{\n"
            "    'name': 'debug', 'image': 'busybox:1.36', 'securityContext': {'privileged': True}}]})\n"
        )
    result = broken.action("preview", "dev", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "pod-security-restricted" in output
    assert "debug" in output


def test_up_builds_pushes_and_deploys_every_object_at_its_floor(project: Project):
    result = project.action("up", "dev")
    outputs = project.outputs("dev")
    image, model_image = outputs["models"][MODEL]["image"], outputs["models"][MODEL]["modelImage"]
    assert RUNTIME_REF.match(image), image
    assert MODEL_REF.match(model_image), model_image
    # Both are in the registry under their digests: docker-build pushed them.
    for reference in (image, model_image):
        repository, digest = reference.removeprefix("127.0.0.1:5000/").split("@")
        manifest = subprocess.run(
            [
                "curl",
                "-fsI",
                "-H",
                "Accept: application/vnd.oci.image.index.v1+json, "
                "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
                f"http://127.0.0.1:5000/v2/{repository}/manifests/{digest}",
            ],
            capture_output=True,
            text=True,
        )
        assert manifest.returncode == 0, f"{reference}: {manifest.stderr}"
    kinds = ("Deployment", "HorizontalPodAutoscaler", "NetworkPolicy", "Service", "ServiceAccount")
    assert objects_in(project, DEV_NAMESPACE) == sorted(
        f"{kind}/{name}" for name in outputs["models"] for kind in kinds
    ), result.stdout
    live = deployment(project, DEV_NAMESPACE)
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == image
    assert live["spec"]["template"]["spec"]["initContainers"][0]["image"] == model_image
    # The new local backend reused the committed salt: `pulumi up` left the stack file as it was.
    assert (project.path / "Pulumi.dev.yaml").read_text() == (ROOT / "Pulumi.dev.yaml").read_text()
    hpa = project.kube_json("hpa", MODEL, "-n", DEV_NAMESPACE)
    assert live["spec"]["replicas"] == hpa["spec"]["minReplicas"]
    # The ReplicaSet's pods were admitted under Pod Security `restricted` and are ready (the await finished).
    assert live["status"]["readyReplicas"] == live["spec"]["replicas"]


def test_a_second_preview_has_no_changes_even_after_the_replica_count_moved(project: Project):
    project.action("preview", "dev", "--expect-no-changes")
    # What the HPA does under load, done by hand: Pulumi must not see it as drift, nor undo it.
    project.kubectl("scale", "deployment", MODEL, "-n", DEV_NAMESPACE, "--replicas=2")
    project.action("preview", "dev", "--expect-no-changes")
    project.action("up", "dev")
    assert deployment(project, DEV_NAMESPACE)["spec"]["replicas"] == 2


def test_promotion_reads_the_real_outputs_and_prod_is_admitted_with_the_digest(project: Project):
    promoted = project.promote("dev", "prod")
    assert promoted.returncode == 0, promoted.stderr
    released = project.outputs("dev")["models"][MODEL]
    prod = project.stack_config("prod")["config"]
    # Both digests move: the shared runtime, and the model's own image.
    assert prod["ml-platform:runtime"]["image"] == released["image"]
    assert prod["ml-platform:models"][MODEL]["model"]["image"] == released["modelImage"]
    project.action("up", "prod")
    live = deployment(project, PROD_NAMESPACE)
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == released["image"]
    assert live["spec"]["template"]["spec"]["initContainers"][0]["image"] == released["modelImage"]
    # A production rollout starts at the HPA's floor, not at the API's default of one pod.
    assert live["spec"]["replicas"] == 3
    assert live["status"]["readyReplicas"] == 3


def test_a_canary_is_added_promoted_and_removed_by_up(project: Project):
    model_image = project.outputs("dev")["models"][MODEL]["modelImage"]

    def add_canary(config):
        config["ml-platform:models"][MODEL]["canary"] = {
            "version": "1.1.0",
            "model": {"image": model_image},
            "weight": 50,
        }

    project.edit_stack("dev", add_canary)
    project.action("up", "dev")
    canary = deployment(project, DEV_NAMESPACE, f"{MODEL}-canary")
    assert canary["metadata"]["labels"]["app.kubernetes.io/version"] == "1.1.0"
    assert canary["status"]["readyReplicas"] >= 1
    assert project.outputs("dev")["models"][MODEL]["canary"]["version"] == "1.1.0"

    def promote_canary(config):
        model = config["ml-platform:models"][MODEL]
        canary = model.pop("canary")
        model["version"] = canary["version"]
        model["model"] = canary["model"]

    project.edit_stack("dev", promote_canary)
    project.action("up", "dev")
    stable = deployment(project, DEV_NAMESPACE)
    assert stable["metadata"]["labels"]["app.kubernetes.io/version"] == "1.1.0"
    assert f"Deployment/{MODEL}-canary" not in objects_in(project, DEV_NAMESPACE)


def test_a_bad_stack_file_fails_preview_and_up_with_one_line_and_creates_nothing(project: Project):
    bad = (project.path / "Pulumi.dev.yaml").read_text().replace("ml-dev", "ml-bad").replace("max: 3", "mxa: 3")
    (project.path / "Pulumi.bad.yaml").write_text(bad)
    for action in ("preview", "up"):
        result = project.action(action, "bad", check=False)
        output = result.stdout + result.stderr
        assert result.returncode != 0
        assert "defaults.replicas.mxa: unknown key; did you mean max?" in output
        assert TRACEBACK not in output
    assert project.kubectl("get", "namespace", "ml-bad", check=False).returncode != 0


def test_an_exception_in_the_program_shows_the_users_traceback_once(project: Project):
    broken = Project(project.path.parent / "raises", project.env)
    subprocess.run(["cp", "-a", str(project.path), str(broken.path)], check=True)
    program = broken.path / "__main__.py"
    program.write_text(program.read_text() + "\nraise ValueError('a bug in the program')\n")
    result = broken.action("preview", "dev", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert output.count(TRACEBACK) == 1, output
    assert "ValueError: a bug in the program" in output


def test_pod_security_restricted_is_enforced_in_the_stacks_namespace(project: Project):
    pod = (
        '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "privileged"}, "spec": {"containers": '
        '[{"name": "c", "image": "busybox:1.36", "securityContext": {"privileged": true}}]}}'
    )
    result = subprocess.run(
        [str(TOOLCHAIN_BIN / "kubectl"), "apply", "-n", DEV_NAMESPACE, "-f", "-"],
        input=pod,
        env=project.env,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert 'violates PodSecurity "restricted' in result.stderr


def test_an_up_killed_halfway_is_finished_by_the_next_up(project: Project):
    def bump(config):
        config["ml-platform:models"][MODEL]["version"] = "1.2.0"

    project.edit_stack("prod", bump)
    project.pulumi("stack", "select", "prod")
    from tools.deploy import pulumi_args

    process = subprocess.Popen(
        [str(TOOLCHAIN_BIN / "pulumi"), *pulumi_args("up", "prod", [], project_dir=project.path)],
        cwd=project.path,
        env=project.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # Kill the engine once the update has started changing objects.
    deadline = time.monotonic() + 120
    seen = ""
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        seen += line
        if "updating" in line or "creating" in line:
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    # As a user would: cancel the dead update's lock, bring the state up to date, then up again.
    project.pulumi("cancel", "--yes", "--stack", "prod", check=False)
    project.action("refresh", "prod", "--clear-pending-creates")
    project.action("up", "prod")
    live = deployment(project, PROD_NAMESPACE)
    assert live["metadata"]["labels"]["app.kubernetes.io/version"] == "1.2.0"
    assert objects_in(project, PROD_NAMESPACE).count(f"Deployment/{MODEL}") == 1
    project.action("preview", "prod", "--expect-no-changes")


@pytest.mark.parametrize("stack, namespace", [("prod", PROD_NAMESPACE), ("dev", DEV_NAMESPACE)])
def test_destroy_leaves_no_object_of_the_stack(project: Project, stack: str, namespace: str):
    project.action("destroy", stack)
    assert project.kubectl("get", "namespace", namespace, check=False).returncode != 0 or not objects_in(
        project, namespace
    )
