"""A model delivered apart from the runtime, under Pulumi mocks: the pod's volume, mounts, env and init container
on each path, every container restricted, and the whole stack passing the policy pack's rules."""

from __future__ import annotations

import pytest

import policy
from components.config import ModelConfig
from components.model_delivery import DeliveredModel
from components.model_service import ModelService, ModelServiceArgs
from tests.pulumi.engine import one, register

RUNTIME = "registry.example.com/ml/model-server@sha256:" + "ab" * 32
MODEL_IMAGE = "registry.example.com/ml/models/iris@sha256:" + "cd" * 32
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "privileged": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "runAsGroup": 10001,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def pod_spec(delivery: str, *, size_limit: str = "17Mi") -> dict:
    config = ModelConfig.model_validate({"version": "1.0.0", "model": {"image": MODEL_IMAGE}})

    def build():
        component = ModelService(
            "iris",
            ModelServiceArgs(
                config=config,
                namespace="ml-test",
                image=RUNTIME,
                model=DeliveredModel(MODEL_IMAGE, delivery, size_limit),  # type: ignore[arg-type]
            ),
        )
        return component.model_image

    registered, model_image = register(build)
    assert model_image == MODEL_IMAGE
    return one(registered, DEPLOYMENT)["spec"]["template"]["spec"]


@pytest.fixture(scope="module")
def init_container_pod():
    return pod_spec("initContainer")


@pytest.fixture(scope="module")
def image_volume_pod():
    return pod_spec("imageVolume")


@pytest.mark.parametrize("pod", ["init_container_pod", "image_volume_pod"])
def test_the_server_runs_the_runtime_and_reads_the_model_read_only_from_model_dir(pod, request):
    spec = request.getfixturevalue(pod)
    [server] = spec["containers"]

    assert server["image"] == RUNTIME
    assert {"name": "MODEL_DIR", "value": "/var/lib/model/model"} in server["env"]
    assert {"name": "model", "mountPath": "/var/lib/model", "readOnly": True} in server["volumeMounts"]
    assert server["securityContext"] == RESTRICTED


def test_an_image_volume_mounts_the_model_image_itself(image_volume_pod):
    volumes = {volume["name"]: volume for volume in image_volume_pod["volumes"]}

    assert volumes["model"] == {"name": "model", "image": {"reference": MODEL_IMAGE, "pullPolicy": "IfNotPresent"}}
    assert "initContainers" not in image_volume_pod


def test_an_init_container_copies_the_model_into_a_sized_empty_dir(init_container_pod):
    volumes = {volume["name"]: volume for volume in init_container_pod["volumes"]}
    [copier] = init_container_pod["initContainers"]

    assert volumes["model"] == {"name": "model", "emptyDir": {"sizeLimit": "17Mi"}}
    assert copier["name"] == "copy-model"
    assert copier["image"] == MODEL_IMAGE
    assert copier["imagePullPolicy"] == "IfNotPresent"
    assert copier["args"] == ["/model", "/var/lib/model/model"]
    assert copier["volumeMounts"] == [{"name": "model", "mountPath": "/var/lib/model"}]
    assert copier["securityContext"] == RESTRICTED


def test_the_copier_keeps_the_pod_guaranteed(init_container_pod):
    [copier] = init_container_pod["initContainers"]

    assert copier["resources"]["requests"] == copier["resources"]["limits"] == {"cpu": "100m", "memory": "64Mi"}


def test_the_pod_runs_as_the_unprivileged_user(init_container_pod):
    context = init_container_pod["securityContext"]

    assert context["runAsNonRoot"] is True and context["runAsUser"] == 10001 and context["fsGroup"] == 10001


def test_a_model_config_without_its_delivered_model_is_a_programming_error():
    config = ModelConfig.model_validate({"version": "1.0.0", "model": {"image": MODEL_IMAGE}})

    with pytest.raises(ValueError, match="`model` must be given exactly when config.model is set"):
        register(lambda: ModelService("iris", ModelServiceArgs(config=config, namespace="ml", image=RUNTIME)))


@pytest.mark.parametrize("delivery", ["initContainer", "imageVolume"])
@pytest.mark.parametrize("environment", ["development", "production"])
def test_both_paths_pass_every_policy_rule(delivery, environment):
    config = ModelConfig.model_validate(
        {"version": "1.0.0", "model": {"image": MODEL_IMAGE}, "replicas": {"min": 2, "max": 4}}
    )

    def build():
        ModelService(
            "iris",
            ModelServiceArgs(
                config=config,
                namespace="ml-test",
                image=RUNTIME,
                model=DeliveredModel(MODEL_IMAGE, delivery, "64Mi"),  # type: ignore[arg-type]
                production=environment == "production",
            ),
        )

    registered, _ = register(build)
    objects = [r.outputs for r in registered if r.type.startswith("kubernetes:")]

    assert policy.evaluate(objects, policy.PolicyContext(environment=environment)) == []
