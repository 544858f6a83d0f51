"""The rules as CrossGuard policies: thin wrappers that turn Pulumi resources into Kubernetes objects.

`policy/__main__.py` hands `POLICIES` to `PolicyPack(...)`; nothing here starts the policy server, so the tests
import this module and call the wrappers with fake args objects.

Where the stack's facts come from: the CLI passes the stack's config to a policy pack (as it does to a program,
in `PULUMI_CONFIG`), so the pack reads `ml-platform:environment` and `ml-platform:allowLoadBalancer` exactly as
the program does. A policy's own config (`--policy-pack-config`, keys `environment` and `allowLoadBalancer`)
overrides them. When neither is visible the pack judges as production: a missing setting never relaxes a rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pulumi.runtime
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from conventions import DEVELOPMENT, ENVIRONMENTS, PRODUCTION, PROJECT
from policy.rules import RULES, ObjectRule, StackRule
from policy.violation import PolicyContext, object_ref

PACK_NAME = f"{PROJECT}-policies"

# `kubernetes:apps/v1:Deployment`; `core` is the legacy group, whose apiVersion is just `v1`.
_KUBERNETES_TYPE = re.compile(r"^kubernetes:(?P<group>[a-z0-9.-]+)/(?P<version>[a-z0-9]+):(?P<kind>[A-Za-z]+)$")
# Pulumi-only wrappers whose type looks like a Kubernetes one but that are not API objects.
_NOT_API_OBJECTS = {"helm.sh", "yaml", "kustomize"}

CONFIG_SCHEMA = PolicyConfigSchema(
    properties={
        "environment": {"type": "string", "enum": list(ENVIRONMENTS)},
        "allowLoadBalancer": {"type": "boolean"},
    },
)


def kubernetes_object(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The Kubernetes object a Pulumi resource declares (its props, camelCase as in the API), or None when the
    resource is not a Kubernetes API object. `apiVersion` and `kind` come from the type token when absent."""
    match = _KUBERNETES_TYPE.match(resource_type)
    if match is None or match["group"] in _NOT_API_OBJECTS or match["kind"].endswith("List"):
        return None
    group = match["group"]
    api_version = match["version"] if group == "core" else f"{group}/{match['version']}"
    return _WithDefaults(props, {"apiVersion": api_version, "kind": match["kind"]})


class _WithDefaults(Mapping):
    """Props with fallback values, read lazily: CrossGuard's props raise on values unknown during preview,
    and only the rules that read such a value should stop."""

    def __init__(self, props: Mapping[str, Any], defaults: dict[str, Any]):
        self._props, self._defaults = props, defaults

    def __getitem__(self, key: str) -> Any:
        if key in self._props:
            return self._props[key]
        return self._defaults[key]

    def __iter__(self) -> Iterator[str]:
        yield from self._props
        yield from (key for key in self._defaults if key not in self._props)

    def __len__(self) -> int:
        return len(set(self._props) | set(self._defaults))


def stack_config() -> dict[str, str] | None:
    """The project's keys of the stack config the CLI passed to this process, or None when it passed none."""
    config = {key: value for key, value in pulumi.runtime.get_config_env().items() if key.startswith(f"{PROJECT}:")}
    return config or None


def policy_context(policy_config: Mapping[str, Any], config: Mapping[str, Any] | None) -> PolicyContext:
    """The facts the rules need, from the policy's own config first, then the stack config.

    With a stack config, missing keys take the program's defaults (`development`, no load balancer); without
    one (an old CLI, or a pack run outside a stack) the pack is strict: production, no load balancer.
    """
    environment: str
    if config is None:
        environment, allow = PRODUCTION, False
    else:
        environment = str(config.get(f"{PROJECT}:environment", DEVELOPMENT))
        allow = _is_true(config.get(f"{PROJECT}:allowLoadBalancer", False))
    environment = str(policy_config.get("environment", environment))
    allow = _is_true(policy_config.get("allowLoadBalancer", allow))
    return PolicyContext(environment=environment, allow_load_balancer=allow)


def _is_true(value: Any) -> bool:
    """A boolean as config carries it: `true`, or the string "true" (the CLI passes config values as strings)."""
    return value is True or str(value).strip().lower() == "true"


def resource_validation(rule: ObjectRule, read_stack_config: Callable[[], Mapping[str, Any] | None] = stack_config):
    """A `ResourceValidation` callback running one object rule on one resource."""

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        obj = kubernetes_object(args.resource_type, args.props)
        if obj is None:
            return
        context = policy_context(args.get_config(), read_stack_config())
        for violation in rule.check(obj, context):
            report_violation(str(violation), None)

    return validate


def stack_validation(rule: StackRule, read_stack_config: Callable[[], Mapping[str, Any] | None] = stack_config):
    """A `StackValidation` callback running one stack rule over every Kubernetes object of the stack; each
    violation is reported against the URN of the object it names."""

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        objects: list[Mapping[str, Any]] = []
        urns: dict[str, str] = {}
        for resource in args.resources:
            obj = kubernetes_object(resource.resource_type, resource.props)
            if obj is not None:
                objects.append(obj)
                urns.setdefault(object_ref(obj), resource.urn)
        context = policy_context(args.get_config(), read_stack_config())
        for violation in rule.check(objects, context):
            report_violation(str(violation), urns.get(violation.object))

    return validate


def build_policies(read_stack_config: Callable[[], Mapping[str, Any] | None] = stack_config) -> list:
    """One mandatory CrossGuard policy per rule, named as the rule."""
    policies: list = []
    for rule in RULES:
        if isinstance(rule, StackRule):
            policies.append(
                StackValidationPolicy(
                    name=rule.name,
                    description=rule.description,
                    validate=stack_validation(rule, read_stack_config),
                    enforcement_level=EnforcementLevel.MANDATORY,
                    config_schema=CONFIG_SCHEMA,
                )
            )
        else:
            policies.append(
                ResourceValidationPolicy(
                    name=rule.name,
                    description=rule.description,
                    validate=resource_validation(rule, read_stack_config),
                    enforcement_level=EnforcementLevel.MANDATORY,
                    config_schema=CONFIG_SCHEMA,
                )
            )
    return policies


POLICIES = build_policies()
