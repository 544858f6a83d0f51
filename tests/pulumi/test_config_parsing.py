"""Valid config becomes typed values: defaults merged under each model, secrets kept apart, JSON decoded."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from components.config import StackConfig, parse_stack_config, raw_project_config
from components.quantities import QuantityError, parse_quantity


def parse(raw: dict, secret_keys=frozenset()) -> StackConfig:
    return parse_stack_config(raw, stack_file="Pulumi.test.yaml", secret_keys=secret_keys)


def base(**extra) -> dict:
    return {
        "namespace": "ml-dev",
        "registry": {"server": "localhost:5001"},
        "models": {"breast-cancer": {"version": "1.0.0", "build": {"context": "./model"}}},
        **extra,
    }


def test_documented_defaults_apply_when_nothing_is_set():
    stack = parse(base())
    breast_cancer = stack.models["breast-cancer"]
    assert stack.environment == "development"
    assert stack.create_namespace is True
    assert stack.allow_load_balancer is False
    assert (breast_cancer.replicas.min, breast_cancer.replicas.max) == (1, 3)
    assert (breast_cancer.resources.cpu, breast_cancer.resources.memory, breast_cancer.resources.cpu_limit) == (
        "500m",
        "512Mi",
        None,
    )
    assert breast_cancer.autoscaling.target_cpu_utilization == 70
    assert breast_cancer.port == 8080
    assert breast_cancer.probes.liveness.path == "/v2/health/live"
    assert breast_cancer.probes.readiness.path == breast_cancer.probes.startup.path == "/v2/health/ready"


def test_defaults_are_merged_under_each_model_key_by_key():
    raw = base(defaults={"replicas": {"min": 2, "max": 6}, "resources": {"cpu": "1", "memory": "1Gi"}})
    raw["models"]["breast-cancer"]["resources"] = {"memory": "2Gi"}
    breast_cancer = parse(raw).models["breast-cancer"]
    assert (breast_cancer.replicas.min, breast_cancer.replicas.max) == (2, 6)
    # The model overrides memory only; cpu still comes from defaults.
    assert (breast_cancer.resources.cpu, breast_cancer.resources.memory) == ("1", "2Gi")


def test_a_model_overrides_a_nested_default_without_losing_its_siblings():
    raw = base(
        defaults={
            "autoscaling": {
                "targetCPUUtilization": 50,
                "scaleDown": {"stabilizationWindowSeconds": 600, "maxPercent": 10, "maxPods": 1, "periodSeconds": 120},
            }
        }
    )
    raw["models"]["breast-cancer"]["autoscaling"] = {"targetCPUUtilization": 80}
    autoscaling = parse(raw).models["breast-cancer"].autoscaling
    assert autoscaling.target_cpu_utilization == 80
    assert autoscaling.scale_down.stabilization_window_seconds == 600


def test_yaml_numbers_are_accepted_as_quantities():
    raw = base()
    raw["models"]["breast-cancer"]["resources"] = {"cpu": 0.5, "memory": 1073741824}
    resources = parse(raw).models["breast-cancer"].resources
    assert (resources.cpu, resources.memory) == ("0.5", "1073741824")


def test_secret_env_and_plain_env_are_told_apart():
    raw = base(apiToken="s3cr3t")
    raw["models"]["breast-cancer"]["env"] = {"LOG_LEVEL": "debug", "API_TOKEN": {"secretKey": "apiToken"}}
    stack = parse(raw, secret_keys={"apiToken"})
    breast_cancer = stack.models["breast-cancer"]
    assert breast_cancer.plain_env == {"LOG_LEVEL": "debug"}
    assert breast_cancer.secret_env == {"API_TOKEN": "apiToken"}
    assert stack.secret_values == {"apiToken": "s3cr3t"}


def test_secret_values_never_appear_in_repr_or_dump():
    raw = base(apiToken="s3cr3t")
    raw["models"]["breast-cancer"]["env"] = {"API_TOKEN": {"secretKey": "apiToken"}}
    stack = parse(raw, secret_keys={"apiToken"})
    assert "s3cr3t" not in repr(stack)
    assert "s3cr3t" not in stack.model_dump_json()


def test_the_registry_password_is_read_from_its_secret_key():
    raw = base(registryPassword="hunter2")
    raw["registry"]["username"] = "ci"
    stack = parse(raw, secret_keys={"registryPassword"})
    assert stack.registry.username == "ci"
    assert stack.secret_values["registryPassword"] == "hunter2"


def test_engine_config_is_decoded_and_other_namespaces_ignored():
    engine = {
        "ml-platform:namespace": "ml-dev",
        "ml-platform:createNamespace": "false",
        "ml-platform:models": '{"breast-cancer": {"version": "1.0.0"}}',
        "kubernetes:context": "kind-ml",
    }
    assert raw_project_config(engine) == {
        "namespace": "ml-dev",
        "createNamespace": False,
        "models": {"breast-cancer": {"version": "1.0.0"}},
    }


@pytest.mark.parametrize(
    "text, value",
    [
        ("250m", Decimal("0.25")),
        ("0.5", Decimal("0.5")),
        ("512Mi", Decimal(512 * 2**20)),
        ("1G", Decimal(10**9)),
        ("1e3", Decimal(1000)),
        (2, Decimal(2)),
        (".5", Decimal("0.5")),
        ("1Ki", Decimal(1024)),
    ],
)
def test_kubernetes_quantities_parse_to_base_units(text, value):
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["lots", "1 gigabyte", "", "1GB", "Mi", "-1", "1.2.3", "1mi", True])
def test_malformed_quantities_are_rejected(text):
    with pytest.raises(QuantityError):
        parse_quantity(text)


@pytest.mark.parametrize("value", ['{"type": "service_account", "private_key": "..."}', "true", "[1, 2]"])
def test_a_secret_that_reads_like_json_stays_the_string_the_user_set(value):
    engine = {
        "ml-platform:namespace": "ml-dev",
        "ml-platform:models": json.dumps(
            {
                "breast-cancer": {
                    "version": "1.0.0",
                    "image": "r/breast-cancer:1.0.0",
                    "env": {"KEY": {"secretKey": "key"}},
                }
            }
        ),
        "ml-platform:key": value,
    }
    stack = parse_stack_config(raw_project_config(engine), stack_file="Pulumi.dev.yaml", secret_keys={"key"})
    assert stack.secret_values == {"key": value}
