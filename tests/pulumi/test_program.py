"""The whole program, run offline for the real dev and prod stack files (tools.stack_run)."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
from pulumi.runtime import rpc

from tools.stack_run import ProgramError, load_stack_config, run_stack

PINNED = re.compile(r"^[^\s@]+@sha256:[a-f0-9]{64}$")


@pytest.fixture(scope="module")
def dev():
    return run_stack("dev")


@pytest.fixture(scope="module")
def prod():
    return run_stack("prod")


def kinds(run) -> list[str]:
    return sorted(m["kind"] for m in run.manifests())


def objects(run, kind: str) -> list[dict]:
    return [m for m in run.manifests() if m["kind"] == kind]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_outputs_have_the_documented_shape(stack, request):
    run = request.getfixturevalue(stack)
    outputs = run.outputs
    assert set(outputs) == {"namespace", "models"}
    assert outputs["namespace"] == f"ml-{stack}"
    assert set(outputs["models"]) == {"breast-cancer", "iris", "diabetes"}
    for name, model in outputs["models"].items():
        assert set(model) == {"image", "modelImage", "version", "service", "endpoint"}
        assert model["service"] == name
        assert model["endpoint"] == f"http://{name}.ml-{stack}.svc.cluster.local:8080"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_deployed_image_is_pinned_by_digest(stack, request):
    run = request.getfixturevalue(stack)
    for deployment in objects(run, "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert PINNED.match(container["image"]), container["image"]
    for model in run.outputs["models"].values():
        assert PINNED.match(model["image"])


def image_named(run, name: str):
    (image,) = [image for image in run.of_type("docker-build:index:Image") if image.name == name]
    return image


def deployment_named(run, name: str) -> dict:
    (deployment,) = [d for d in objects(run, "Deployment") if d["metadata"]["name"] == name]
    return deployment


def test_dev_builds_one_runtime_and_a_model_image_per_model_and_deploys_their_digests(dev):
    runtime = image_named(dev, "runtime")
    assert runtime.inputs["tags"] == ["127.0.0.1:5000/model-server:dev"]
    assert runtime.inputs["context"] == {"location": "./model"}
    assert len(dev.of_type("docker-build:index:Image")) == 4
    for name in ("breast-cancer", "iris", "diabetes"):
        model_image = image_named(dev, f"{name}-model")
        assert model_image.inputs["tags"] == [f"127.0.0.1:5000/models/{name}:1.0.0"]
        spec = deployment_named(dev, name)["spec"]["template"]["spec"]
        assert (
            spec["containers"][0]["image"]
            == f"127.0.0.1:5000/model-server@{runtime.outputs['digest']}"
            == dev.outputs["models"][name]["image"]
        )
        assert (
            spec["initContainers"][0]["image"]
            == f"127.0.0.1:5000/models/{name}@{model_image.outputs['digest']}"
            == dev.outputs["models"][name]["modelImage"]
        )


def test_dev_builds_on_the_local_builder_from_the_local_base_with_the_host_ca(dev):
    image = image_named(dev, "runtime")
    assert image.inputs["builder"] == {"name": "ml-platform"}
    assert image.inputs["buildArgs"] == {"BASE_IMAGE": "127.0.0.1:5000/ml-platform/python-base:3.11-bookworm"}
    assert image.inputs["cacheFrom"] == [{"registry": {"ref": "127.0.0.1:5000/model-server:buildcache"}}]
    secrets = image.inputs["secrets"]
    assert rpc.is_rpc_secret(secrets)
    assert secrets["value"]["ca"] == Path("/etc/ssl/certs/ca-certificates.crt").read_text(encoding="utf-8")


def test_dev_creates_a_restricted_namespace_and_the_model_objects(dev):
    per_model = ["ServiceAccount", "Deployment", "Service", "HorizontalPodAutoscaler", "NetworkPolicy"]
    assert kinds(dev) == sorted(["Namespace", *per_model * 3])
    (namespace,) = objects(dev, "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_dev_runs_one_to_three_small_replicas(dev):
    for hpa in objects(dev, "HorizontalPodAutoscaler"):
        assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 3)


def test_prod_builds_nothing_and_deploys_the_promoted_references(prod):
    assert prod.of_type("docker-build:index:Image") == []
    config = load_stack_config("prod")
    for name, model in config["ml-platform:models"].items():
        spec = deployment_named(prod, name)["spec"]["template"]["spec"]
        assert spec["containers"][0]["image"] == config["ml-platform:runtime"]["image"]
        assert spec["initContainers"][0]["image"] == model["model"]["image"]


def test_prod_runs_at_least_three_replicas_with_a_disruption_budget(prod):
    for hpa in objects(prod, "HorizontalPodAutoscaler"):
        assert hpa["spec"]["minReplicas"] >= 3
    assert [pdb["spec"]["maxUnavailable"] for pdb in objects(prod, "PodDisruptionBudget")] == [1, 1, 1]


def test_prod_spreads_pods_over_zones_and_nodes(prod):
    for deployment in objects(prod, "Deployment"):
        keys = {c["topologyKey"] for c in deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]}
        assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}


def test_prod_has_larger_resources_than_dev(dev, prod):
    def requests(run):
        deployment = deployment_named(run, "breast-cancer")
        return deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]

    assert requests(dev) == {"cpu": "250m", "memory": "256Mi"}
    assert requests(prod) == {"cpu": "1", "memory": "1Gi"}


def test_bad_config_stops_the_program_with_one_line_per_problem():
    config = copy.deepcopy(load_stack_config("dev"))
    config["ml-platform:models"]["breast-cancer"]["replicas"] = {"min": 5, "max": 3}
    config["ml-platform:namspace"] = "typo"
    with pytest.raises(ProgramError) as caught:
        run_stack("dev", config=config)
    assert caught.value.problems == [
        "Pulumi.dev.yaml: ml-platform:namspace: unknown config key; did you mean ml-platform:namespace?",
        "Pulumi.dev.yaml: models.breast-cancer.replicas: min (5) must be <= max (3)",
    ]


def test_an_unpinned_prod_model_image_stops_the_program():
    config = copy.deepcopy(load_stack_config("prod"))
    config["ml-platform:models"]["breast-cancer"]["model"]["image"] = "registry.example.com/ml/breast-cancer:1.0.0"
    with pytest.raises(ProgramError) as caught:
        run_stack("prod", config=config)
    (problem,) = caught.value.problems
    assert problem.startswith(
        "Pulumi.prod.yaml: models.breast-cancer.model.image: production needs an image pinned by digest"
    )


def test_a_secret_env_value_reaches_a_secret_and_stays_out_of_outputs():
    config = copy.deepcopy(load_stack_config("dev"))
    config["ml-platform:models"]["breast-cancer"]["env"] = {"API_TOKEN": {"secretKey": "apiToken"}}
    config["ml-platform:apiToken"] = {"secure": "v1:encrypted"}
    run = run_stack("dev", config=config)
    (secret,) = objects(run, "Secret")
    assert set(secret["stringData"]) == {"API_TOKEN"}
    deployment = deployment_named(run, "breast-cancer")
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["API_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": secret["metadata"]["name"],
        "key": "API_TOKEN",
        "optional": False,
    }
    assert secret["metadata"]["name"].startswith("breast-cancer-env-")


def test_an_existing_namespace_is_used_when_not_created():
    config = copy.deepcopy(load_stack_config("dev"))
    config["ml-platform:createNamespace"] = False
    run = run_stack("dev", config=config)
    assert objects(run, "Namespace") == []
    assert {m["metadata"]["namespace"] for m in run.manifests()} == {"ml-dev"}


def test_image_pull_secrets_reach_every_pod():
    config = copy.deepcopy(load_stack_config("prod"))
    config["ml-platform:imagePullSecrets"] = ["regcred"]
    run = run_stack("prod", config=config)
    for deployment in objects(run, "Deployment"):
        assert deployment["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "regcred"}]


def test_bad_config_fails_before_any_resource_is_registered():
    config = {
        "ml-platform:namespace": "ml-dev",
        "ml-platform:models": {
            "breast-cancer": {"version": "1.0.0", "image": "r/breast-cancer:1.0", "replicas": {"min": 0}}
        },
    }

    with pytest.raises(ProgramError) as caught:
        run_stack("dev", config=config)

    assert caught.value.problems == [
        "Pulumi.dev.yaml: models.breast-cancer.replicas.min: Input should be greater than or equal to 1 (got 0)"
    ]
    assert caught.value.registered == []


def test_a_missing_ca_file_stops_the_program_before_any_resource_is_registered():
    config = copy.deepcopy(load_stack_config("dev"))
    config["ml-platform:runtime"]["build"]["caFile"] = "./no-such-ca.pem"
    with pytest.raises(ProgramError) as caught:
        run_stack("dev", config=config)
    assert caught.value.problems == [
        "Pulumi.dev.yaml: runtime.build.caFile: './no-such-ca.pem' is not a readable file (No such file or directory)"
    ]
    assert caught.value.registered == []


def test_the_stack_builder_builds_every_image():
    config = copy.deepcopy(load_stack_config("dev"))
    config["ml-platform:builder"] = "ci-builder"
    config["ml-platform:models"]["breast-cancer"]["canary"] = {
        "version": "1.1.0",
        "build": {"context": "./model"},
        "weight": 20,
    }
    run = run_stack("dev", config=config)
    images = run.of_type("docker-build:index:Image")
    assert len(images) == 5  # the runtime, three model images and the canary's own server image
    assert all(image.inputs["builder"] == {"name": "ci-builder"} for image in images)
