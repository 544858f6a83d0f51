"""Service selectors reach pods; no LoadBalancer unless the stack allows it."""

from policy import PolicyContext, evaluate
from tests.policy import manifests as m

PROD = PolicyContext(environment="production")


def messages(objects, rule, context=PROD):
    return [f"{v.field}: {v.message}" for v in evaluate(objects, context) if v.rule == rule]


def test_service_selecting_a_deployments_pods_passes():
    assert messages([m.deployment(), m.service()], "service-selector-matches-pods") == []


def test_service_selecting_no_pods_is_rejected():
    service = m.service()
    service["spec"]["selector"]["app.kubernetes.io/name"] = "irsi"
    assert messages([m.deployment(), service], "service-selector-matches-pods") == [
        "spec.selector: app.kubernetes.io/instance=breast-cancer, app.kubernetes.io/name=irsi"
        " matches no pod template in the stack"
    ]


def test_service_without_selector_is_rejected():
    service = m.service()
    del service["spec"]["selector"]
    assert messages([m.deployment(), service], "service-selector-matches-pods") == ["spec.selector: must be set"]


def test_service_in_another_namespace_does_not_match():
    service = m.service()
    service["metadata"]["namespace"] = "elsewhere"
    assert len(messages([m.deployment(), service], "service-selector-matches-pods")) == 1


def test_service_matching_any_of_two_deployments_passes():
    canary = m.deployment()
    canary["metadata"]["name"] = "breast-cancer-canary"
    canary["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"] = "1.3.0"
    assert messages([m.deployment(), canary, m.service()], "service-selector-matches-pods") == []


def test_cluster_ip_service_passes_the_load_balancer_rule():
    assert messages([m.service()], "no-load-balancer") == []


def test_load_balancer_is_rejected_unless_allowed():
    service = m.service()
    service["spec"]["type"] = "LoadBalancer"
    assert messages([service], "no-load-balancer") == [
        "spec.type: LoadBalancer is not allowed in this stack (set ml-platform:allowLoadBalancer to allow it)"
    ]


def test_load_balancer_passes_when_the_stack_allows_it():
    service = m.service()
    service["spec"]["type"] = "LoadBalancer"
    allowed = PolicyContext(environment="production", allow_load_balancer=True)
    assert messages([service], "no-load-balancer", allowed) == []
