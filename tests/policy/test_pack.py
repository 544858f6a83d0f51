"""The CrossGuard pack: its wrappers called directly with args as the policy SDK builds them, and the real pack
process answering the engine's gRPC calls (no Pulumi CLI needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pulumi_policy import EnforcementLevel, PolicyResource, ResourceValidationArgs, StackValidationArgs
from pulumi_policy.policy import PolicyCustomTimeouts, PolicyResourceOptions
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from policy import RULES
from policy.pack import (
    POLICIES,
    build_policies,
    kubernetes_object,
    policy_context,
    resource_validation,
    stack_validation,
)
from tests.policy import manifests as m

ROOT = Path(__file__).resolve().parents[2]
RULE = {rule.name: rule for rule in RULES}
PROD_CONFIG = {"ml-platform:environment": "production"}
DEV_CONFIG = {"ml-platform:environment": "development"}


def _options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def resource_args(type_token: str, props: dict, config: dict | None = None) -> ResourceValidationArgs:
    """What the SDK passes a resource policy: props (camelCase) behind the unknown-checking proxy."""
    return ResourceValidationArgs(
        type_token,
        unknown_checking_proxy(props),
        f"urn:pulumi:prod::ml-platform::{type_token}::x",
        "x",
        _options(),
        None,
        config,
    )


def stack_args(resources: list[tuple[str, dict]], config: dict | None = None) -> StackValidationArgs:
    policy_resources = [
        PolicyResource(
            type_token,
            unknown_checking_proxy(props),
            f"urn:pulumi:prod::ml-platform::{type_token}::{i}",
            str(i),
            _options(),
            None,
            None,
            [],
            {},
        )
        for i, (type_token, props) in enumerate(resources)
    ]
    return StackValidationArgs(policy_resources, config)


def run_resource_rule(rule_name, type_token, props, stack_config=PROD_CONFIG, policy_config=None):
    reported = []
    validate = resource_validation(RULE[rule_name], lambda: stack_config)
    validate(resource_args(type_token, props, policy_config), lambda message, urn=None: reported.append(message))
    return reported


def test_every_rule_is_a_mandatory_policy_of_the_right_kind():
    assert [p.name for p in POLICIES] == [rule.name for rule in RULES]
    assert all(p.enforcement_level == EnforcementLevel.MANDATORY for p in POLICIES)
    kinds = {p.name: type(p).__name__ for p in POLICIES}
    assert kinds["service-selector-matches-pods"] == "StackValidationPolicy"
    assert kinds["image-digest"] == "ResourceValidationPolicy"


def test_kubernetes_types_become_api_objects():
    obj = kubernetes_object("kubernetes:apps/v1:Deployment", {"metadata": {"name": "a"}})
    assert (obj["apiVersion"], obj["kind"]) == ("apps/v1", "Deployment")
    assert kubernetes_object("kubernetes:core/v1:Service", {})["apiVersion"] == "v1"


def test_non_api_resources_are_ignored():
    assert kubernetes_object("docker-build:index:Image", {}) is None
    assert kubernetes_object("kubernetes:helm.sh/v3:Release", {}) is None
    assert kubernetes_object("pulumi:providers:kubernetes", {}) is None


def test_resource_wrapper_reports_a_tag_only_image_in_production():
    deployment = m.deployment()
    m.container_of(deployment)["image"] = "registry.example.com/breast-cancer:1.2.0"
    reported = run_resource_rule("image-digest", "kubernetes:apps/v1:Deployment", deployment)
    assert reported == [
        "Deployment ml-prod/breast-cancer: spec.template.spec.containers[0].image: "
        "not pinned by digest (registry.example.com/breast-cancer:1.2.0)"
    ]


def test_resource_wrapper_reads_the_environment_from_the_stack_config():
    deployment = m.deployment()
    m.container_of(deployment)["image"] = "registry.example.com/breast-cancer:1.2.0"
    assert run_resource_rule("image-digest", "kubernetes:apps/v1:Deployment", deployment, DEV_CONFIG) == []


def test_resource_wrapper_passes_a_compliant_deployment_for_every_object_rule():
    for rule in RULES:
        if rule.scope == "object":
            assert run_resource_rule(rule.name, "kubernetes:apps/v1:Deployment", m.deployment()) == [], rule.name


def test_props_without_kind_take_it_from_the_type_token():
    service = m.service()
    del service["kind"], service["apiVersion"]
    service["spec"]["type"] = "LoadBalancer"
    (message,) = run_resource_rule("no-load-balancer", "kubernetes:core/v1:Service", service)
    assert message.startswith("Service ml-prod/breast-cancer: spec.type: LoadBalancer is not allowed")


def test_allow_load_balancer_comes_from_the_stack_config():
    service = m.service()
    service["spec"]["type"] = "LoadBalancer"
    config = {**PROD_CONFIG, "ml-platform:allowLoadBalancer": "true"}
    assert run_resource_rule("no-load-balancer", "kubernetes:core/v1:Service", service, config) == []


def test_policy_config_overrides_the_stack_config():
    deployment = m.deployment()
    m.container_of(deployment)["image"] = "registry.example.com/breast-cancer:1.2.0"
    reported = run_resource_rule(
        "image-digest",
        "kubernetes:apps/v1:Deployment",
        deployment,
        DEV_CONFIG,
        policy_config={"environment": "production"},
    )
    assert len(reported) == 1


def test_without_any_stack_config_the_pack_is_strict():
    assert policy_context({}, None).environment == "production"
    assert policy_context({}, None).allow_load_balancer is False


def test_booleans_arrive_as_strings_or_booleans():
    assert policy_context({}, {"ml-platform:allowLoadBalancer": "true"}).allow_load_balancer is True
    assert policy_context({}, {"ml-platform:allowLoadBalancer": "false"}).allow_load_balancer is False
    assert (
        policy_context({"allowLoadBalancer": "false"}, {"ml-platform:allowLoadBalancer": "true"}).allow_load_balancer
        is False
    )
    assert policy_context({"allowLoadBalancer": True}, None).allow_load_balancer is True


def test_a_stack_config_without_environment_takes_the_programs_default():
    assert policy_context({}, {"ml-platform:namespace": "ml-dev"}).environment == "development"


def test_unknown_values_stop_only_the_rules_that_read_them():
    deployment = m.deployment()
    m.container_of(deployment)["image"] = UNKNOWN_STRING_VALUE  # a digest that the build has not produced yet
    with pytest.raises(UnknownValueError):
        run_resource_rule("image-digest", "kubernetes:apps/v1:Deployment", deployment)
    assert run_resource_rule("pod-security-restricted", "kubernetes:apps/v1:Deployment", deployment) == []


def test_stack_wrapper_reports_against_the_offending_objects_urn():
    service = m.service()
    service["spec"]["selector"] = {"app": "nobody"}
    args = stack_args([("kubernetes:apps/v1:Deployment", m.deployment()), ("kubernetes:core/v1:Service", service)])
    reported = []
    stack_validation(RULE["service-selector-matches-pods"], lambda: PROD_CONFIG)(
        args, lambda message, urn=None: reported.append((message, urn))
    )
    assert reported == [
        (
            "Service ml-prod/breast-cancer: spec.selector: app=nobody matches no pod template in the stack",
            "urn:pulumi:prod::ml-platform::kubernetes:core/v1:Service::1",
        )
    ]


def test_stack_wrapper_passes_a_compliant_stack():
    resources = [
        ("kubernetes:apps/v1:Deployment", m.deployment()),
        ("kubernetes:core/v1:Service", m.service()),
        ("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", m.hpa()),
        ("kubernetes:policy/v1:PodDisruptionBudget", m.pdb()),
        ("docker-build:index:Image", {}),
    ]
    for policy in build_policies(lambda: PROD_CONFIG):
        if type(policy).__name__ == "StackValidationPolicy":
            reported = []
            # Bound per policy through the default, so each callback appends to its own list.
            policy.validate(
                stack_args(resources), lambda message, urn=None, reported=reported: reported.append(message)
            )
            assert reported == [], policy.name


# --- the real pack process, spoken to over gRPC as the Pulumi engine does ------------------------------------------


@pytest.fixture(scope="module")
def pack_channel():
    grpc = pytest.importorskip("grpc")
    env = {**os.environ, "PULUMI_CONFIG": json.dumps(PROD_CONFIG)}
    # The CLI's python policy shim starts a pack as `python -u -m pulumi.policy <engine> .` in the pack's directory.
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", "."],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT / "policy",
    )
    try:
        port = process.stdout.readline().decode().strip()
        if not port.isdigit():
            pytest.fail(f"policy pack did not start: {process.stderr.read().decode()[-2000:]}")
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        yield channel
        channel.close()
    finally:
        process.kill()
        process.wait()


def test_pack_process_announces_every_rule_as_mandatory(pack_channel):
    from google.protobuf import empty_pb2
    from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

    info = analyzer_pb2_grpc.AnalyzerStub(pack_channel).GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "ml-platform-policies"
    assert [p.name for p in info.policies] == [rule.name for rule in RULES]
    assert {p.enforcementLevel for p in info.policies} == {analyzer_pb2.MANDATORY}


def test_pack_process_rejects_a_floating_image_in_production(pack_channel):
    from google.protobuf import json_format, struct_pb2
    from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

    deployment = m.deployment()
    m.container_of(deployment)["image"] = "registry.example.com/breast-cancer:latest"
    properties = json_format.ParseDict(deployment, struct_pb2.Struct())
    request = analyzer_pb2.AnalyzeRequest(
        type="kubernetes:apps/v1:Deployment",
        properties=properties,
        urn="urn:pulumi:prod::ml-platform::kubernetes:apps/v1:Deployment::breast-cancer",
        name="breast-cancer",
    )
    response = analyzer_pb2_grpc.AnalyzerStub(pack_channel).Analyze(request)
    found = {(d.policyName, d.enforcementLevel) for d in response.diagnostics}
    assert found == {("image-tag", analyzer_pb2.MANDATORY), ("image-digest", analyzer_pb2.MANDATORY)}
    assert any("spec.template.spec.containers[0].image" in d.message for d in response.diagnostics)
