"""Canary releases: a second version behind the same Service, its share set by replica bounds.

Promotion (canary becomes stable) and rollback (canary removed) are plain config changes; these tests check that
they keep every immutable field (names, selectors) of the stable objects, so `pulumi up` updates in place.
"""

# Over 300 lines on purpose: the canary's whole specification: split, objects, config errors, promotion.

from __future__ import annotations

import copy

import pytest

from components.canary import TrackReplicas, effective_weight, split_replicas
from components.config import ConfigError, ModelConfig, Replicas, parse_stack_config
from components.model_service import ModelService, ModelServiceArgs
from tests.pulumi.engine import by_type, register
from tools.stack_run import ProgramError, load_stack_config, run_stack

STABLE_IMAGE = "registry.example.com/ml/breast-cancer@sha256:" + "a" * 64
CANARY_IMAGE = "registry.example.com/ml/breast-cancer@sha256:" + "b" * 64
# The canary's model image: the stacks' models are delivered apart from the shared runtime.
CANARY_MODEL = {"image": "registry.example.com/ml/models/breast-cancer@sha256:" + "b" * 64}
CANARY_MODEL_PATH = {"path": "./models/breast-cancer.onnx"}


# --- replica split ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "total, weight, stable, canary",
    [
        (Replicas(min=10, max=20), 10, TrackReplicas(9, 18), TrackReplicas(1, 2)),
        (Replicas(min=4, max=8), 50, TrackReplicas(2, 4), TrackReplicas(2, 4)),
        (Replicas(min=1, max=3), 20, TrackReplicas(1, 2), TrackReplicas(1, 1)),
    ],
)
def test_replica_bounds_are_split_by_weight(total, weight, stable, canary):
    assert split_replicas(total, weight) == (stable, canary)


def test_each_track_keeps_at_least_one_pod_so_small_models_split_coarsely():
    stable, canary = split_replicas(Replicas(min=3, max=6), 5)
    assert canary.min == 1
    assert effective_weight(stable, canary) == pytest.approx(100 / 3)


def test_production_keeps_two_pods_per_track():
    stable, canary = split_replicas(Replicas(min=3, max=10), 10, floor=2)
    assert stable.min >= 2 and canary.min >= 2
    assert stable.min <= stable.max and canary.min <= canary.max


@pytest.mark.parametrize("floor", [1, 2])
def test_the_tracks_never_run_more_pods_than_the_model_allows_nor_fewer_than_it_needs(floor):
    for low in range(1, 13):
        for high in range(max(low, 2 * floor), 13):
            for weight in range(1, 100):
                stable, canary = split_replicas(Replicas(min=low, max=high), weight, floor=floor)
                case = (low, high, weight, stable, canary)
                assert stable.max + canary.max == high, case
                assert stable.min + canary.min >= low, case
                assert floor <= stable.min <= stable.max and floor <= canary.min <= canary.max, case


def test_a_budget_too_small_for_two_tracks_is_refused():
    with pytest.raises(ValueError, match="replicas.max >= 4"):
        split_replicas(Replicas(min=3, max=3), 10, floor=2)


@pytest.mark.parametrize("weight", [0, 100])
def test_weights_outside_1_to_99_are_refused(weight):
    with pytest.raises(ValueError):
        split_replicas(Replicas(min=2, max=4), weight)


# --- the component ----------------------------------------------------------------------------------------------


def canary_service(weight: int = 25, production: bool = False):
    config = ModelConfig.model_validate(
        {
            "version": "1.0.0",
            "image": STABLE_IMAGE,
            "replicas": {"min": 4, "max": 8},
            "canary": {"version": "1.1.0", "image": CANARY_IMAGE, "weight": weight},
        }
    )
    return register(
        lambda: (
            ModelService(
                "breast-cancer",
                ModelServiceArgs(
                    config=config,
                    namespace="ml-test",
                    image=STABLE_IMAGE,
                    canary_image=CANARY_IMAGE,
                    production=production,
                ),
            ).canary
        )
    )


@pytest.fixture(scope="module")
def with_canary():
    return canary_service()


def inputs_by_name(registered, type_token):
    return {r.name: r.inputs for r in by_type(registered, type_token)}


def test_each_version_has_its_own_deployment(with_canary):
    deployments = inputs_by_name(with_canary[0], "kubernetes:apps/v1:Deployment")
    assert set(deployments) == {"breast-cancer", "breast-cancer-canary"}

    def image(d):
        return d["spec"]["template"]["spec"]["containers"][0]["image"]

    assert image(deployments["breast-cancer"]) == STABLE_IMAGE
    assert image(deployments["breast-cancer-canary"]) == CANARY_IMAGE
    labels = deployments["breast-cancer-canary"]["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/version"] == "1.1.0"
    assert labels["ml-platform/track"] == "canary"


def test_the_deployments_select_disjoint_pods(with_canary):
    deployments = inputs_by_name(with_canary[0], "kubernetes:apps/v1:Deployment")
    stable = deployments["breast-cancer"]["spec"]["selector"]["matchLabels"]
    canary = deployments["breast-cancer-canary"]["spec"]["selector"]["matchLabels"]
    assert stable["ml-platform/track"] == "stable" and canary["ml-platform/track"] == "canary"
    for deployment in deployments.values():
        assert (
            deployment["spec"]["selector"]["matchLabels"].items()
            <= deployment["spec"]["template"]["metadata"]["labels"].items()
        )


def test_one_service_selects_both_versions(with_canary):
    (service,) = by_type(with_canary[0], "kubernetes:core/v1:Service")
    selector = service.inputs["spec"]["selector"].items()
    for deployment in by_type(with_canary[0], "kubernetes:apps/v1:Deployment"):
        assert selector <= deployment.inputs["spec"]["template"]["metadata"]["labels"].items()


def test_each_version_has_its_own_autoscaler_with_bounds_from_the_weight(with_canary):
    hpas = inputs_by_name(with_canary[0], "kubernetes:autoscaling/v2:HorizontalPodAutoscaler")
    bounds = {name: (h["spec"]["minReplicas"], h["spec"]["maxReplicas"]) for name, h in hpas.items()}
    assert bounds == {"breast-cancer": (3, 6), "breast-cancer-canary": (1, 2)}
    assert hpas["breast-cancer-canary"]["spec"]["scaleTargetRef"]["name"] == "breast-cancer-canary"


def test_a_disruption_budget_only_for_tracks_with_two_or_more_pods(with_canary):
    pdbs = inputs_by_name(with_canary[0], "kubernetes:policy/v1:PodDisruptionBudget")
    assert set(pdbs) == {"breast-cancer"}
    registered, _ = canary_service(weight=50)
    assert set(inputs_by_name(registered, "kubernetes:policy/v1:PodDisruptionBudget")) == {
        "breast-cancer",
        "breast-cancer-canary",
    }


def test_the_canary_output_names_image_version_and_weight(with_canary):
    assert with_canary[1] == {"image": CANARY_IMAGE, "version": "1.1.0", "weight": 25}


def test_production_spreads_each_track_on_its_own():
    registered, _ = canary_service(production=True)
    for deployment in by_type(registered, "kubernetes:apps/v1:Deployment"):
        template = deployment.inputs["spec"]["template"]
        for constraint in template["spec"]["topologySpreadConstraints"]:
            assert constraint["labelSelector"]["matchLabels"].items() <= template["metadata"]["labels"].items()


# --- config -----------------------------------------------------------------------------------------------------


def dev_raw(canary: dict) -> dict:
    return {
        "namespace": "ml-dev",
        "registry": {"server": "localhost:5001"},
        "models": {"breast-cancer": {"version": "1.0.0", "build": {"context": "./model"}, "canary": canary}},
    }


def problems(raw: dict, stack_file: str = "Pulumi.dev.yaml") -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(raw, stack_file=stack_file)
    return caught.value.problems


@pytest.mark.parametrize("weight", [0, 100, -5])
def test_a_canary_weight_must_be_1_to_99(weight):
    (problem,) = problems(dev_raw({"version": "1.1.0", "build": {"context": "./model"}, "weight": weight}))
    assert problem.startswith("Pulumi.dev.yaml: models.breast-cancer.canary.weight: ")


def test_a_canary_needs_a_new_version():
    (problem,) = problems(dev_raw({"version": "1.0.0", "build": {"context": "./model"}, "weight": 10}))
    assert problem.startswith("Pulumi.dev.yaml: models.breast-cancer.canary.version: '1.0.0' is the stable version")


def test_a_canary_needs_exactly_one_of_build_and_image():
    (problem,) = problems(dev_raw({"version": "1.1.0", "weight": 10}))
    assert problem.startswith("Pulumi.dev.yaml: models.breast-cancer.canary: set exactly one of `build`")


def test_a_typo_in_a_canary_key_suggests_the_right_one():
    raw = dev_raw({"version": "1.1.0", "build": {"context": "./model"}, "wieght": 10})
    assert "Pulumi.dev.yaml: models.breast-cancer.canary.wieght: unknown key; did you mean weight?" in problems(raw)


def test_a_production_canary_must_be_pinned_by_digest():
    raw = {
        "environment": "production",
        "namespace": "ml-prod",
        "models": {
            "breast-cancer": {
                "version": "1.0.0",
                "image": STABLE_IMAGE,
                "replicas": {"min": 3, "max": 10},
                "canary": {"version": "1.1.0", "image": "registry.example.com/ml/breast-cancer:1.1.0", "weight": 10},
            }
        },
    }
    (problem,) = problems(raw, "Pulumi.prod.yaml")
    assert problem.startswith(
        "Pulumi.prod.yaml: models.breast-cancer.canary.image: production needs an image pinned by digest"
    )


@pytest.mark.parametrize(
    "environment, high, message",
    [
        ("development", 1, "a canary needs room for two versions of at least 1 pod each; set max >= 2, got 1"),
        (
            "production",
            3,
            "a canary needs room for two versions of at least 2 pods each in production; set max >= 4, got 3",
        ),
    ],
)
def test_a_canary_needs_a_replica_budget_for_two_tracks(environment, high, message):
    production = environment == "production"
    release = {"image": CANARY_IMAGE} if production else {"build": {"context": "./model"}}
    canary = {"version": "1.1.0", "weight": 10, **release}
    raw = dev_raw(canary)
    model = raw["models"]["breast-cancer"]
    model["replicas"] = {"min": min(2, high), "max": high}
    if production:
        raw.update(environment="production", namespace="ml-prod")
        raw.pop("registry")
        del model["build"]
        model["image"] = STABLE_IMAGE
    (problem,) = problems(raw, "Pulumi.x.yaml")
    assert problem == f"Pulumi.x.yaml: models.breast-cancer.replicas.max: {message}"


# --- the whole program: with and without a canary, promotion, rollback -------------------------------------------


def with_canary_config(stack: str, canary: dict) -> dict:
    config = copy.deepcopy(load_stack_config(stack))
    config["ml-platform:models"]["breast-cancer"]["canary"] = canary
    return config


def immutable_view(run) -> dict:
    """What must not change for an in-place, no-downtime update: names and selectors of the stable objects."""
    view = {}
    for manifest in run.manifests():
        if manifest["metadata"]["name"] == "breast-cancer":
            view[manifest["kind"]] = (
                manifest["metadata"]["name"],
                manifest["spec"].get("selector") if "spec" in manifest else None,
            )
    return view


@pytest.fixture(scope="module")
def dev_canary_run():
    return run_stack(
        "dev", config=with_canary_config("dev", {"version": "1.1.0", "model": CANARY_MODEL_PATH, "weight": 20})
    )


def test_dev_with_a_canary_builds_both_versions(dev_canary_run):
    names = sorted(tag for i in dev_canary_run.of_type("docker-build:index:Image") for tag in i.inputs["tags"])
    assert [name for name in names if "breast-cancer" in name] == [
        "127.0.0.1:5000/models/breast-cancer:1.0.0",
        "127.0.0.1:5000/models/breast-cancer:1.1.0",
    ]


def test_dev_with_a_canary_exports_it(dev_canary_run):
    canary = dev_canary_run.outputs["models"]["breast-cancer"]["canary"]
    assert canary["version"] == "1.1.0"
    assert canary["weight"] == 20
    assert canary["image"] == dev_canary_run.outputs["models"]["breast-cancer"]["image"]  # the one runtime
    assert canary["modelImage"].startswith("127.0.0.1:5000/models/breast-cancer@sha256:")


def test_prod_with_a_canary_renders_two_spread_deployments():
    run = run_stack(
        "prod", config=with_canary_config("prod", {"version": "1.1.0", "model": CANARY_MODEL, "weight": 10})
    )
    deployments = {m["metadata"]["name"]: m for m in run.manifests() if m["kind"] == "Deployment"}
    assert set(deployments) >= {"breast-cancer", "breast-cancer-canary"}
    for deployment in deployments.values():
        assert len(deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]) == 2
    hpas = {
        m["metadata"]["name"]: m["spec"]["minReplicas"]
        for m in run.manifests()
        if m["kind"] == "HorizontalPodAutoscaler"
    }
    assert all(minimum >= 2 for minimum in hpas.values())
    assert run.outputs["models"]["breast-cancer"]["canary"]["modelImage"] == CANARY_MODEL["image"]


def test_without_a_canary_there_is_no_canary_output():
    run = run_stack("prod")
    assert "canary" not in run.outputs["models"]["breast-cancer"]


def test_rolling_back_removes_only_the_canary_objects():
    config = with_canary_config("prod", {"version": "1.1.0", "model": CANARY_MODEL, "weight": 10})
    before = run_stack("prod", config=config)
    del config["ml-platform:models"]["breast-cancer"]["canary"]
    after = run_stack("prod", config=config)
    removed = {(m["kind"], m["metadata"]["name"]) for m in before.manifests()} - {
        (m["kind"], m["metadata"]["name"]) for m in after.manifests()
    }
    assert removed == {
        ("Deployment", "breast-cancer-canary"),
        ("HorizontalPodAutoscaler", "breast-cancer-canary"),
        ("PodDisruptionBudget", "breast-cancer-canary"),
    }
    assert immutable_view(before) == immutable_view(after)


def test_promoting_the_canary_updates_the_stable_deployment_in_place():
    config = with_canary_config("prod", {"version": "1.1.0", "model": CANARY_MODEL, "weight": 10})
    before = run_stack("prod", config=config)
    model = config["ml-platform:models"]["breast-cancer"]
    canary = model.pop("canary")
    model.update(version=canary["version"], model=canary["model"])
    after = run_stack("prod", config=config)
    (stable,) = [m for m in after.manifests() if m["kind"] == "Deployment" and "breast" in m["metadata"]["name"]]
    assert stable["metadata"]["name"] == "breast-cancer"
    assert stable["spec"]["template"]["spec"]["initContainers"][0]["image"] == CANARY_MODEL["image"]
    assert stable["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert immutable_view(before) == immutable_view(after)
    assert after.outputs["models"]["breast-cancer"]["version"] == "1.1.0"


def test_a_bad_canary_stops_the_program():
    config = with_canary_config("dev", {"version": "1.1.0", "weight": 10})
    with pytest.raises(ProgramError) as caught:
        run_stack("dev", config=config)
    assert caught.value.problems[0].startswith("Pulumi.dev.yaml: models.breast-cancer.canary: set exactly one of")


@pytest.mark.parametrize("stack, environment", [("dev", "development"), ("prod", "production")])
def test_canary_renders_pass_strict_schema_validation_and_the_policies(stack, environment):
    from policy.rules import evaluate
    from policy.violation import PolicyContext
    from tools.validate import validate_objects

    release = {"model": CANARY_MODEL_PATH if stack == "dev" else CANARY_MODEL}
    run = run_stack(stack, config=with_canary_config(stack, {"version": "1.1.0", "weight": 10, **release}))
    objects = run.manifests()
    assert {m["metadata"]["name"] for m in objects if m["kind"] == "Deployment"} >= {
        "breast-cancer",
        "breast-cancer-canary",
    }
    assert validate_objects(objects) == []
    assert evaluate(objects, PolicyContext(environment=environment)) == []
