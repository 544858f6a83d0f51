"""Every mistake a user can make in a stack file gets one clear line naming the file and the full key path."""

# Over 300 lines on purpose: the table of every config error and its exact wording, one specification.

from __future__ import annotations

import copy

import pytest

from components.config import ConfigError, parse_stack_config

DIGEST = "sha256:" + "0123456789abcdef" * 4
PINNED = f"registry.example.com/ml/breast-cancer@{DIGEST}"


def model_map(models: dict) -> dict:
    """Keyword arguments as model names: `breast_cancer=` stands for `breast-cancer` (a name has no `_`)."""
    return {name.replace("_", "-"): model for name, model in models.items()}


def dev_config(**models) -> dict:
    """A valid development stack config (prefix stripped); `models` replaces the model map."""
    return {
        "namespace": "ml-dev",
        "registry": {"server": "localhost:5001"},
        "models": model_map(models) or {"breast-cancer": {"version": "1.0.0", "build": {"context": "./model"}}},
    }


def prod_config(**models) -> dict:
    return {
        "environment": "production",
        "namespace": "ml-prod",
        "models": model_map(models)
        or {"breast-cancer": {"version": "1.0.0", "image": PINNED, "replicas": {"min": 3, "max": 10}}},
    }


def problems_of(raw: dict, stack_file: str = "Pulumi.dev.yaml", secret_keys=frozenset()) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(raw, stack_file=stack_file, secret_keys=secret_keys)
    assert all(line.startswith(f"{stack_file}: ") for line in caught.value.problems)
    assert all("\n" not in line for line in caught.value.problems)
    return caught.value.problems


def with_model(base: dict, **changes) -> dict:
    raw = copy.deepcopy(base)
    raw["models"]["breast-cancer"].update(changes)
    return raw


def test_the_example_stacks_shape_parses_without_problems():
    assert parse_stack_config(dev_config(), stack_file="Pulumi.dev.yaml").models["breast-cancer"].version == "1.0.0"
    assert parse_stack_config(prod_config(), stack_file="Pulumi.prod.yaml").production


def test_min_greater_than_max_is_reported_with_both_values():
    raw = with_model(dev_config(), replicas={"min": 5, "max": 3})
    assert problems_of(raw) == ["Pulumi.dev.yaml: models.breast-cancer.replicas: min (5) must be <= max (3)"]


@pytest.mark.parametrize("field", ["min", "max"])
@pytest.mark.parametrize("count", [0, -1])
def test_zero_or_negative_replica_counts_are_rejected(field, count):
    raw = with_model(dev_config(), replicas={"min": 1, "max": 3, field: count})
    problems = problems_of(raw)
    assert any(
        p.startswith(f"Pulumi.dev.yaml: models.breast-cancer.replicas.{field}: ") and f"(got {count})" in p
        for p in problems
    )


@pytest.mark.parametrize("utilization", [0, 101, 150])
def test_cpu_utilization_outside_1_to_100_is_rejected(utilization):
    raw = with_model(dev_config(), autoscaling={"targetCPUUtilization": utilization})
    (problem,) = problems_of(raw)
    assert problem.startswith("Pulumi.dev.yaml: models.breast-cancer.autoscaling.targetCPUUtilization: ")
    assert f"(got {utilization})" in problem


@pytest.mark.parametrize(
    "field, value",
    [("cpu", "lots"), ("memory", "1 gigabyte"), ("cpu", "-1"), ("memory", "12XB"), ("cpuLimit", "two")],
)
def test_bad_quantities_are_rejected_naming_the_field(field, value):
    raw = with_model(dev_config(), resources={field: value})
    (problem,) = problems_of(raw)
    assert problem.startswith(
        f"Pulumi.dev.yaml: models.breast-cancer.resources.{field}: {value!r} is not a Kubernetes quantity"
    )


def test_memory_in_millibytes_is_a_slip_with_a_suggested_fix():
    (problem,) = problems_of(with_model(dev_config(), resources={"memory": "512m"}))
    assert problem == (
        "Pulumi.dev.yaml: models.breast-cancer.resources.memory: '512m' means thousandths of a byte;"
        " write 512Mi or 512M"
    )


def test_zero_cpu_is_rejected():
    (problem,) = problems_of(with_model(dev_config(), resources={"cpu": "0"}))
    assert problem == "Pulumi.dev.yaml: models.breast-cancer.resources.cpu: '0' must be greater than zero"


def test_cpu_limit_below_the_request_is_rejected():
    (problem,) = problems_of(with_model(dev_config(), resources={"cpu": "1", "cpuLimit": "500m"}))
    assert problem == "Pulumi.dev.yaml: models.breast-cancer.resources.cpuLimit: 500m must be >= the request cpu (1)"


def test_missing_version_is_reported():
    raw = dev_config(breast_cancer={"build": {"context": "./model"}})
    assert problems_of(raw) == ["Pulumi.dev.yaml: models.breast-cancer.version: required key is missing"]


@pytest.mark.parametrize("version", ["1.0.0 beta", "-1", "v1/2", "x" * 64])
def test_version_must_be_an_image_tag_and_label_value(version):
    (problem,) = problems_of(with_model(dev_config(), version=version))
    assert problem.startswith(f"Pulumi.dev.yaml: models.breast-cancer.version: {version!r} must be an image tag")


def test_both_build_and_image_is_rejected():
    raw = with_model(dev_config(), image=PINNED)
    (problem,) = problems_of(raw)
    assert problem.startswith("Pulumi.dev.yaml: models.breast-cancer: set exactly one of `build`")
    assert problem.endswith("got both")


def test_neither_build_nor_image_is_rejected():
    raw = dev_config(breast_cancer={"version": "1.0.0"})
    (problem,) = problems_of(raw)
    assert problem.endswith("got neither")


def test_production_image_must_be_pinned_by_digest():
    raw = with_model(prod_config(), image="registry.example.com/ml/breast-cancer:1.0.0")
    (problem,) = problems_of(raw, "Pulumi.prod.yaml")
    assert problem == (
        "Pulumi.prod.yaml: models.breast-cancer.image: production needs an image pinned by digest "
        "(<repository>@sha256:<64 hex>), got 'registry.example.com/ml/breast-cancer:1.0.0'"
    )


def test_production_may_not_build_from_source():
    raw = prod_config(
        breast_cancer={"version": "1.0.0", "build": {"context": "./model"}, "replicas": {"min": 3, "max": 5}}
    )
    raw["registry"] = {"server": "localhost:5001"}
    (problem,) = problems_of(raw, "Pulumi.prod.yaml")
    assert problem.startswith(
        "Pulumi.prod.yaml: models.breast-cancer.build: production deploys only images pinned by digest"
    )


def test_production_needs_at_least_two_replicas():
    (problem,) = problems_of(with_model(prod_config(), replicas={"min": 1, "max": 3}), "Pulumi.prod.yaml")
    assert problem.startswith(
        "Pulumi.prod.yaml: models.breast-cancer.replicas.min: production needs at least 2 replicas"
    )


@pytest.mark.parametrize(
    "image", ["registry.example.com/ml/breast-cancer", "registry.example.com/ml/breast-cancer:latest"]
)
def test_floating_images_are_rejected_even_in_development(image):
    raw = dev_config(breast_cancer={"version": "1.0.0", "image": image})
    (problem,) = problems_of(raw)
    assert problem.startswith(f"Pulumi.dev.yaml: models.breast-cancer.image: {image!r} floats")


@pytest.mark.parametrize("image", ["r/a@b@sha256:" + "ab" * 32, "@sha256:" + "ab" * 32])
def test_a_digest_without_exactly_one_repository_is_malformed(image):
    (problem,) = problems_of(dev_config(breast_cancer={"version": "1.0.0", "image": image}))
    assert "malformed digest" in problem


def test_a_malformed_digest_is_rejected():
    raw = dev_config(breast_cancer={"version": "1.0.0", "image": "registry.example.com/ml/breast-cancer@sha256:abc"})
    (problem,) = problems_of(raw)
    assert "malformed digest" in problem


@pytest.mark.parametrize(
    "name", ["Iris", "breast-cancer_v2", "2breast-cancer", "breast-cancer-", "a" * 57, "breast-cancer.v2"]
)
def test_model_names_must_be_dns_labels(name):
    raw = {**dev_config(), "models": {name: {"version": "1.0.0", "build": {"context": "./model"}}}}
    (problem,) = problems_of(raw)
    assert problem.startswith(f"Pulumi.dev.yaml: models.{name}: model name {name!r}")


def test_an_unknown_top_level_key_suggests_the_known_one():
    raw = dev_config()
    raw["namspace"] = raw.pop("namespace")
    problems = problems_of(raw)
    assert "Pulumi.dev.yaml: ml-platform:namspace: unknown config key; did you mean ml-platform:namespace?" in problems
    assert "Pulumi.dev.yaml: namespace: required key is missing" in problems


@pytest.mark.parametrize(
    "path, wrong, right",
    [
        (("replicas",), "mni", "min"),
        (("autoscaling",), "targetCpuUtilization", "targetCPUUtilization"),
        (("resources",), "memroy", "memory"),
        (("probes", "readiness"), "pth", "path"),
        (("build",), "dockerFile", "dockerfile"),
        ((), "replica", "replicas"),
    ],
)
def test_unknown_model_keys_suggest_the_known_one_at_every_level(path, wrong, right):
    raw = dev_config()
    node = raw["models"]["breast-cancer"]
    for part in path:
        node = node.setdefault(part, {})
    node[wrong] = node.pop(right, 1)
    problems = problems_of(raw)
    key = ".".join(("models", "breast-cancer", *path, wrong))
    assert f"Pulumi.dev.yaml: {key}: unknown key; did you mean {right}?" in problems


def test_an_unknown_key_in_defaults_is_reported_once_at_its_defaults_path():
    raw = dev_config(
        breast_cancer={"version": "1.0.0", "build": {"context": "./model"}},
        wine={"version": "2.0.0", "build": {"context": "./model"}},
    )
    raw["defaults"] = {"resources": {"cpus": "1"}}
    assert problems_of(raw) == ["Pulumi.dev.yaml: defaults.resources.cpus: unknown key; did you mean cpu?"]


def test_a_bad_value_in_defaults_is_reported_once_at_its_defaults_path():
    raw = dev_config(
        breast_cancer={"version": "1.0.0", "build": {"context": "./model"}},
        wine={"version": "2.0.0", "build": {"context": "./model"}},
    )
    raw["defaults"] = {"resources": {"cpu": "lots"}}
    (problem,) = problems_of(raw)
    assert problem.startswith("Pulumi.dev.yaml: defaults.resources.cpu: 'lots' is not a Kubernetes quantity")


def test_all_problems_are_reported_at_once():
    raw = dev_config(
        breast_cancer={"version": "1.0.0", "build": {"context": "./model"}, "replicas": {"min": 5, "max": 3}},
        Wine={"version": "1.0.0", "build": {"context": "./model"}},
        cat={"build": {"context": "./model"}},
    )
    raw["namspace"] = "x"
    problems = problems_of(raw)
    assert len(problems) == 4
    assert {p.split(": ")[1] for p in problems} == {
        "ml-platform:namspace",
        "models.Wine",
        "models.cat.version",
        "models.breast-cancer.replicas",
    }


def test_a_secret_env_value_must_name_a_set_config_key():
    raw = with_model(dev_config(), env={"API_TOKEN": {"secretKey": "apiToken"}})
    (problem,) = problems_of(raw)
    assert problem == (
        "Pulumi.dev.yaml: models.breast-cancer.env.API_TOKEN.secretKey: ml-platform:apiToken is not set; "
        "run `pulumi config set --secret apiToken <value>`"
    )


def test_a_secret_env_value_must_be_a_pulumi_secret():
    raw = with_model(dev_config(), env={"API_TOKEN": {"secretKey": "apiToken"}})
    raw["apiToken"] = "in plain text"
    (problem,) = problems_of(raw)
    assert problem.startswith("Pulumi.dev.yaml: ml-platform:apiToken: must be a secret")


def test_a_typo_in_secret_key_is_an_unknown_key():
    raw = with_model(dev_config(), env={"API_TOKEN": {"secretkey": "apiToken"}})
    raw["apiToken"] = "s3cr3t"
    problems = problems_of(raw, secret_keys={"apiToken"})
    assert (
        "Pulumi.dev.yaml: models.breast-cancer.env.API_TOKEN.secretkey: unknown key; did you mean secretKey?"
        in problems
    )


@pytest.mark.parametrize("name", ["PORT", "MODEL_NAME", "MODEL_VERSION", "SHUTDOWN_TIMEOUT_SECONDS"])
def test_env_may_not_override_the_server_contract(name):
    (problem,) = problems_of(with_model(dev_config(), env={name: "x"}))
    assert problem.startswith(f"Pulumi.dev.yaml: models.breast-cancer.env.{name}: set by the platform")


def test_env_values_must_be_strings():
    (problem,) = problems_of(with_model(dev_config(), env={"WORKERS": 4}))
    assert problem == "Pulumi.dev.yaml: models.breast-cancer.env.WORKERS: Input should be a valid string (got 4)"


def test_building_needs_a_registry():
    raw = dev_config()
    del raw["registry"]
    (problem,) = problems_of(raw)
    assert (
        problem == "Pulumi.dev.yaml: models.breast-cancer.build: building needs ml-platform:registry.server to push to"
    )


def test_a_registry_username_needs_the_password_secret():
    raw = dev_config()
    raw["registry"]["username"] = "ci"
    (problem,) = problems_of(raw)
    assert problem.startswith("Pulumi.dev.yaml: registry.username: set, but no password")


def test_a_registry_password_without_a_username_is_not_silently_ignored():
    raw = {**dev_config(), "registryPassword": "hunter2"}
    (problem,) = problems_of(raw, secret_keys={"registryPassword"})
    assert problem == (
        "Pulumi.dev.yaml: ml-platform:registryPassword: set, but registry.username is not;"
        " the registry login needs both"
    )
    raw["registry"]["username"] = "ci"
    stack = parse_stack_config(raw, stack_file="Pulumi.dev.yaml", secret_keys={"registryPassword"})
    assert stack.secret_values == {"registryPassword": "hunter2"}


@pytest.mark.parametrize("environment", ["prod", "staging", "Production"])
def test_environment_is_development_or_production(environment):
    raw = dev_config()
    raw["environment"] = environment
    (problem,) = problems_of(raw)
    assert problem.startswith("Pulumi.dev.yaml: environment: Input should be 'development' or 'production'")


def test_namespace_must_be_a_dns_label():
    raw = dev_config()
    raw["namespace"] = "ML_Dev"
    (problem,) = problems_of(raw)
    assert problem.startswith("Pulumi.dev.yaml: namespace: 'ML_Dev' is not a DNS-1123 label")


def test_privileged_ports_are_rejected_because_the_pod_runs_unprivileged():
    (problem,) = problems_of(with_model(dev_config(), port=80))
    assert (
        problem == "Pulumi.dev.yaml: models.breast-cancer.port: Input should be greater than or equal to 1024 (got 80)"
    )


def test_grace_period_must_outlast_the_pre_stop_pause():
    raw = with_model(dev_config(), shutdown={"preStopSleepSeconds": 30, "terminationGracePeriodSeconds": 30})
    (problem,) = problems_of(raw)
    assert problem.startswith(
        "Pulumi.dev.yaml: models.breast-cancer.shutdown.terminationGracePeriodSeconds: 30 must be longer"
    )


def test_no_models_is_an_error():
    raw = dev_config()
    raw["models"] = {}
    (problem,) = problems_of(raw)
    assert problem.startswith("Pulumi.dev.yaml: models: must be a non-empty mapping")


def test_a_missing_models_key_is_an_error():
    raw = dev_config()
    del raw["models"]
    assert problems_of(raw) == ["Pulumi.dev.yaml: models: required; add at least one model under ml-platform:models"]


def test_image_pull_secrets_must_be_secret_names():
    raw = dev_config()
    raw["imagePullSecrets"] = ["regcred", "Bad Name"]
    (problem,) = problems_of(raw)
    assert problem == "Pulumi.dev.yaml: imagePullSecrets[1]: 'Bad Name' is not a Secret name (a DNS-1123 subdomain)"


def test_rules_across_keys_are_still_checked_when_other_keys_are_invalid():
    raw = prod_config(
        breast_cancer={
            "image": "registry.example.com/ml/breast-cancer:1.0",
            "replicas": {"min": 5, "max": 3},
            "resources": {"cpu": "lots"},
        }
    )
    del raw["namespace"]
    problems = problems_of(raw, "Pulumi.prod.yaml")
    keys = [p.split(": ")[1] for p in problems]
    assert sorted(keys) == sorted(
        [
            "models.breast-cancer.version",
            "models.breast-cancer.resources.cpu",
            "models.breast-cancer.replicas",
            "models.breast-cancer.image",
            "namespace",
        ]
    )


@pytest.mark.parametrize("server", ["http://localhost:5001", "localhost:5001/", "my registry"])
def test_a_registry_is_a_host_not_a_url(server):
    raw = dev_config()
    raw["registry"]["server"] = server
    (problem,) = problems_of(raw)
    assert problem.startswith(f"Pulumi.dev.yaml: registry.server: {server!r} is not a registry")


def test_a_build_context_must_exist_in_the_project(tmp_path):
    (tmp_path / "model").mkdir()
    raw = with_model(dev_config(), build={"context": "./modle"})
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(raw, stack_file="Pulumi.dev.yaml", project_dir=tmp_path)
    assert caught.value.problems == [
        "Pulumi.dev.yaml: models.breast-cancer.build.context: './modle' is not a directory of the project"
    ]
    assert parse_stack_config(dev_config(), stack_file="Pulumi.dev.yaml", project_dir=tmp_path)


def test_a_model_may_not_take_the_name_of_another_models_canary():
    # Both would own the Deployment and HPA `breast-cancer-canary`: the apply would collide, not the parse.
    canary = {"version": "1.1.0", "image": PINNED, "weight": 25}
    raw = dev_config(
        breast_cancer={"version": "1.0.0", "image": PINNED, "replicas": {"min": 2, "max": 4}, "canary": canary},
        breast_cancer_canary={"version": "1.0.0", "image": PINNED},
    )
    (problem,) = problems_of(raw)
    assert problem.startswith(
        "Pulumi.dev.yaml: models.breast-cancer-canary: clashes with the canary of models.breast-cancer"
    )
    without_canary = copy.deepcopy(raw)
    del without_canary["models"]["breast-cancer"]["canary"]
    assert set(parse_stack_config(without_canary, stack_file="Pulumi.dev.yaml").models) == {
        "breast-cancer",
        "breast-cancer-canary",
    }


@pytest.mark.parametrize("resource", ["gpu", "kubernetes.io/gpu", "Nvidia.com/gpu", "nvidia.com/gpu/0"])
def test_a_gpu_resource_must_be_an_extended_resource_name(resource):
    raw = with_model(dev_config(), resources={"gpu": {"count": 1, "resource": resource}})
    (problem,) = problems_of(raw)
    assert problem.startswith(
        f"Pulumi.dev.yaml: models.breast-cancer.resources.gpu.resource: {resource!r} is not an extended resource name"
    )
    allowed = with_model(dev_config(), resources={"gpu": {"count": 1, "resource": "gpu.intel.com/i915"}})
    assert parse_stack_config(allowed, stack_file="Pulumi.dev.yaml").models["breast-cancer"].resources.gpu.count == 1


PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def ca_file_problems(tmp_path, ca_file: str) -> list[str]:
    (tmp_path / "model").mkdir(exist_ok=True)
    raw = with_model(dev_config(), build={"context": "./model", "caFile": ca_file})
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(raw, stack_file="Pulumi.dev.yaml", project_dir=tmp_path)
    return caught.value.problems


def test_a_ca_file_is_read_relative_to_the_project_or_absolute(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "proxy-ca.pem").write_text(PEM)
    for ca_file in ("./proxy-ca.pem", str(tmp_path / "proxy-ca.pem")):
        raw = with_model(dev_config(), build={"context": "./model", "caFile": ca_file})
        stack = parse_stack_config(raw, stack_file="Pulumi.dev.yaml", project_dir=tmp_path)
        assert stack.models["breast-cancer"].build.ca_file == ca_file


def test_a_missing_ca_file_is_a_config_error_naming_the_key(tmp_path):
    assert ca_file_problems(tmp_path, "./nope.pem") == [
        "Pulumi.dev.yaml: models.breast-cancer.build.caFile: './nope.pem' is not a readable file"
        " (No such file or directory)"
    ]


def test_a_ca_file_that_is_a_directory_is_a_config_error(tmp_path):
    assert ca_file_problems(tmp_path, "./model") == [
        "Pulumi.dev.yaml: models.breast-cancer.build.caFile: './model' is not a readable file (Is a directory)"
    ]


@pytest.mark.parametrize("content", [b"not a certificate\n", b"\xff\xfe\x00binary"])
def test_a_ca_file_without_a_pem_certificate_is_a_config_error(tmp_path, content):
    (tmp_path / "ca.pem").write_bytes(content)
    (problem,) = ca_file_problems(tmp_path, "./ca.pem")
    assert problem.startswith("Pulumi.dev.yaml: models.breast-cancer.build.caFile: './ca.pem' ")
    assert "PEM" in problem


def test_a_ca_file_problem_is_reported_with_every_other_problem(tmp_path):
    (tmp_path / "model").mkdir()
    raw = with_model(dev_config(), build={"context": "./model", "caFile": "./nope.pem"}, replicas={"min": 5, "max": 3})
    raw["namspace"] = "typo"
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(raw, stack_file="Pulumi.dev.yaml", project_dir=tmp_path)
    assert len(caught.value.problems) == 3
    assert any(".build.caFile: './nope.pem' is not a readable file" in p for p in caught.value.problems)


def test_an_empty_ca_file_key_is_rejected():
    raw = with_model(dev_config(), build={"context": "./model", "caFile": ""})
    (problem,) = problems_of(raw)
    assert problem.startswith("Pulumi.dev.yaml: models.breast-cancer.build.caFile: ")


def test_a_misspelt_ca_file_key_suggests_ca_file():
    raw = with_model(dev_config(), build={"context": "./model", "cafile": "/etc/ssl/certs/ca-certificates.crt"})
    assert "Pulumi.dev.yaml: models.breast-cancer.build.cafile: unknown key; did you mean caFile?" in problems_of(raw)


@pytest.mark.parametrize("builder", ["ml-platform", "ci_builder.2", "Desktop"])
def test_a_buildx_builder_name_is_accepted(builder):
    stack = parse_stack_config({**dev_config(), "builder": builder}, stack_file="Pulumi.dev.yaml")
    assert stack.builder == builder


def test_without_a_builder_docker_build_chooses():
    assert parse_stack_config(dev_config(), stack_file="Pulumi.dev.yaml").builder is None


@pytest.mark.parametrize("builder", ["", "2fast", "my builder", "tcp://127.0.0.1:1234", "-x"])
def test_a_builder_that_is_not_a_buildx_name_is_rejected(builder):
    (problem,) = problems_of({**dev_config(), "builder": builder})
    assert problem.startswith(f"Pulumi.dev.yaml: builder: {builder!r} is not a buildx builder name: a letter, then ")


def test_a_misspelt_builder_key_suggests_builder():
    (problem,) = problems_of({**dev_config(), "buidler": "ml-platform"})
    assert problem == "Pulumi.dev.yaml: ml-platform:buidler: unknown config key; did you mean ml-platform:builder?"
