"""HPA bounds and PodDisruptionBudgets that never block node drains."""

import pytest

from policy import PolicyContext, evaluate
from tests.policy import manifests as m

DEV = PolicyContext(environment="development")
PROD = PolicyContext(environment="production")


def messages(objects, rule, context=PROD):
    return [f"{v.field}: {v.message}" for v in evaluate(objects, context) if v.rule == rule]


def test_hpa_within_bounds_passes():
    assert messages([m.hpa(3, 6)], "hpa-bounds") == []


def test_hpa_min_above_max_is_rejected():
    assert messages([m.hpa(5, 3)], "hpa-bounds", DEV) == [
        "spec.minReplicas: minReplicas (5) must be <= maxReplicas (3)"
    ]


def test_hpa_min_of_one_is_rejected_in_production():
    assert messages([m.hpa(1, 3)], "hpa-bounds") == ["spec.minReplicas: minReplicas (1) must be >= 2 in production"]


def test_hpa_without_min_defaults_to_one():
    hpa = m.hpa()
    del hpa["spec"]["minReplicas"]
    assert messages([hpa], "hpa-bounds") == ["spec.minReplicas: minReplicas (1) must be >= 2 in production"]


def test_hpa_min_of_one_is_fine_in_development():
    assert messages([m.hpa(1, 3)], "hpa-bounds", DEV) == []


def test_pdb_allowing_one_eviction_passes():
    assert messages(m.stack(), "pdb-allows-node-drain") == []


@pytest.mark.parametrize("budget", [{"maxUnavailable": 0}, {"maxUnavailable": "0%"}, {"minAvailable": "100%"}])
def test_pdb_that_forbids_every_eviction_is_rejected(budget):
    objects = [m.deployment(), m.hpa(), m.pdb(**budget)]
    (problem,) = messages(objects, "pdb-allows-node-drain")
    assert problem.startswith(f"spec.{next(iter(budget))}: ")
    assert "node drains hang" in problem


def test_pdb_min_available_equal_to_min_replicas_is_rejected():
    objects = [m.deployment(), m.hpa(3, 6), m.pdb(minAvailable=3)]
    assert messages(objects, "pdb-allows-node-drain") == [
        "spec.minAvailable: 3 leaves no pod to evict when Deployment ml-prod/breast-cancer runs its minimum "
        "of 3 replica(s) (node drains hang)"
    ]


def test_pdb_min_available_below_min_replicas_passes():
    assert messages([m.deployment(), m.hpa(3, 6), m.pdb(minAvailable=2)], "pdb-allows-node-drain") == []


def test_pdb_percentage_rounds_up_like_the_disruption_controller():
    # 2 replicas at 60% -> 2 must stay up (1.2 rounded up): nothing may be evicted.
    assert len(messages([m.deployment(), m.hpa(2, 4), m.pdb(minAvailable="60%")], "pdb-allows-node-drain")) == 1
    assert messages([m.deployment(), m.hpa(4, 8), m.pdb(minAvailable="60%")], "pdb-allows-node-drain") == []


def test_pdb_uses_deployment_replicas_without_an_hpa():
    deployment = m.deployment()
    deployment["spec"]["replicas"] = 2
    assert len(messages([deployment, m.pdb(minAvailable=2)], "pdb-allows-node-drain")) == 1
    deployment["spec"]["replicas"] = 3
    assert messages([deployment, m.pdb(minAvailable=2)], "pdb-allows-node-drain") == []
