"""The real program's objects for dev and prod pass every rule (run offline by the lead's harness)."""

import copy

import pytest

from conventions import PROJECT
from policy import PolicyContext, evaluate
from policy.pack import policy_context
from tools.stack_run import load_stack_config, run_stack


def context_for(stack: str) -> PolicyContext:
    """The context the CrossGuard pack derives from the stack's config, as the CLI hands it over."""
    config = load_stack_config(stack)
    return policy_context({}, {key: value for key, value in config.items() if key.startswith(f"{PROJECT}:")})


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_stack_objects_pass_every_rule(stack):
    objects = run_stack(stack).manifests()
    assert any(obj["kind"] == "Deployment" for obj in objects)
    assert [str(v) for v in evaluate(objects, context_for(stack))] == []


def test_prod_is_judged_as_production():
    assert context_for("prod").is_production


CANARY = {
    "dev": {"version": "1.1.0", "build": {"context": "./model"}, "weight": 20},
    "prod": {"version": "1.1.0", "image": "registry.example.com/ml/breast-cancer@sha256:" + "1" * 64, "weight": 20},
}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_stack_with_a_canary_passes_every_rule(stack):
    config = copy.deepcopy(load_stack_config(stack))
    first_model = next(iter(config["ml-platform:models"].values()))
    first_model["canary"] = CANARY[stack]
    objects = run_stack(stack, config=config).manifests()
    assert sum(obj["kind"] == "Deployment" for obj in objects) >= 2
    assert [str(v) for v in evaluate(objects, context_for(stack))] == []


def test_a_real_prod_deployment_with_a_floating_image_is_caught():
    objects = run_stack("prod").manifests()
    deployment = next(obj for obj in objects if obj["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example.com/ml/breast-cancer:1.0.0"
    found = [(v.rule, v.field) for v in evaluate(objects, context_for("prod"))]
    assert found == [("image-digest", "spec.template.spec.containers[0].image")]
