"""The real program's objects for dev and prod pass every rule (run offline by the lead's harness)."""

import pytest

from policy import PolicyContext, evaluate
from tools.stack_run import load_stack_config, run_stack


def context_for(stack: str) -> PolicyContext:
    config = load_stack_config(stack)
    allow = config.get("ml-platform:allowLoadBalancer", False)
    return PolicyContext(
        environment=config.get("ml-platform:environment", "development"),
        allow_load_balancer=allow is True or str(allow).lower() == "true",
    )


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_stack_objects_pass_every_rule(stack):
    objects = run_stack(stack).manifests()
    assert any(obj["kind"] == "Deployment" for obj in objects)
    assert [str(v) for v in evaluate(objects, context_for(stack))] == []


def test_prod_is_judged_as_production():
    assert context_for("prod").is_production
