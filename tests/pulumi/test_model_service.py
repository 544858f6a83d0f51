"""`ModelService` alone under Pulumi mocks: each property of each object it registers, one by one."""

# Over 300 lines on purpose: the specification of one component, object by object.

from __future__ import annotations

import pytest
from pulumi.runtime import rpc

from components.config import ModelConfig
from components.model_service import TYPE_TOKEN, ModelService, ModelServiceArgs
from tests.pulumi.engine import by_type, one, register

DIGEST_IMAGE = "registry.example.com/ml/breast-cancer@sha256:" + "ab" * 32
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
ACCOUNT = "kubernetes:core/v1:ServiceAccount"
SECRET = "kubernetes:core/v1:Secret"


def model(**overrides) -> ModelConfig:
    return ModelConfig.model_validate({"version": "1.2.0", "image": DIGEST_IMAGE, **overrides})


def service(config: ModelConfig, *, production: bool = False, secret_env=None, canary_image=None):
    """Register one ModelService named breast-cancer in namespace ml-test; return (registered, endpoint)."""

    def build():
        component = ModelService(
            "breast-cancer",
            ModelServiceArgs(
                config=config,
                namespace="ml-test",
                image=config.image,
                canary_image=canary_image,
                secret_env=secret_env or {},
                production=production,
            ),
        )
        return component.endpoint

    return register(build)


@pytest.fixture(scope="module")
def default_service():
    return service(model())


@pytest.fixture(scope="module")
def registered(default_service):
    return default_service[0]


@pytest.fixture(scope="module")
def pod(registered):
    return one(registered, DEPLOYMENT)["spec"]["template"]


@pytest.fixture(scope="module")
def container(pod):
    (only,) = pod["spec"]["containers"]
    return only


def test_it_is_a_component_that_parents_every_child(registered):
    (component,) = [r for r in registered if r.type == TYPE_TOKEN]
    children = [r for r in registered if r.type != TYPE_TOKEN]
    assert component.name == "breast-cancer"
    assert {r.type for r in children} == {ACCOUNT, DEPLOYMENT, SERVICE, HPA, NETPOL}
    assert all(r.parent.endswith(f"{TYPE_TOKEN}::breast-cancer") for r in children)


def test_every_object_has_the_model_name_and_namespace(registered):
    for resource in registered:
        if resource.type.startswith("kubernetes:"):
            assert resource.inputs["metadata"]["name"] == "breast-cancer"
            assert resource.inputs["metadata"]["namespace"] == "ml-test"


def test_every_object_carries_the_recommended_labels(registered):
    for resource in registered:
        if resource.type.startswith("kubernetes:"):
            labels = resource.inputs["metadata"]["labels"]
            assert labels["app.kubernetes.io/name"] == "breast-cancer"
            assert labels["app.kubernetes.io/instance"] == "breast-cancer"
            assert labels["app.kubernetes.io/version"] == "1.2.0"
            assert labels["app.kubernetes.io/component"] == "model-server"
            assert labels["app.kubernetes.io/part-of"] == "ml-platform"
            assert labels["app.kubernetes.io/managed-by"] == "pulumi"


def test_the_endpoint_is_the_in_cluster_service_url(default_service):
    assert default_service[1] == "http://breast-cancer.ml-test.svc.cluster.local:8080"


def test_the_service_account_mounts_no_token(registered, pod):
    assert one(registered, ACCOUNT)["automountServiceAccountToken"] is False
    assert pod["spec"]["serviceAccountName"] == "breast-cancer"
    assert pod["spec"]["automountServiceAccountToken"] is False


def test_service_links_are_off(pod):
    assert pod["spec"]["enableServiceLinks"] is False


def test_the_deployment_starts_at_the_autoscalers_floor_then_leaves_replicas_to_it(registered):
    (deployment,) = by_type(registered, DEPLOYMENT)
    (hpa,) = by_type(registered, HPA)
    assert deployment.inputs["spec"]["replicas"] == hpa.inputs["spec"]["minReplicas"]
    assert "spec.replicas" in deployment.ignore_changes


def test_rolling_updates_never_go_below_capacity(registered):
    strategy = one(registered, DEPLOYMENT)["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0


def test_the_selector_matches_the_pod_labels(registered, pod):
    selector = one(registered, DEPLOYMENT)["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod["metadata"]["labels"].items()
    assert "app.kubernetes.io/version" not in selector  # a selector is immutable; the version changes


def test_the_service_is_cluster_ip_and_selects_the_pods_by_name_only(registered, pod):
    spec = one(registered, SERVICE)["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["selector"] == {
        "app.kubernetes.io/name": "breast-cancer",
        "app.kubernetes.io/instance": "breast-cancer",
    }
    assert spec["selector"].items() <= pod["metadata"]["labels"].items()
    assert spec["ports"] == [
        {"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP", "appProtocol": "http"}
    ]


def test_the_pod_runs_under_the_restricted_profile(pod, container):
    pod_context = pod["spec"]["securityContext"]
    assert pod_context["runAsNonRoot"] is True
    assert pod_context["runAsUser"] == 10001
    assert pod_context["runAsGroup"] == 10001
    assert pod_context["seccompProfile"] == {"type": "RuntimeDefault"}
    context = container["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["privileged"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["runAsNonRoot"] is True
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}


def test_the_root_filesystem_is_read_only_with_a_writable_tmp(pod, container):
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    (volume,) = pod["spec"]["volumes"]
    assert volume["name"] == "tmp" and "emptyDir" in volume


def test_probes_hit_the_server_health_endpoints_on_the_serving_port(container):
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["startupProbe"]["httpGet"]["path"] == "/v2/health/ready"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] == "http"
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]


def test_the_server_contract_env_is_set(container):
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["PORT"] == "8080"
    assert env["MODEL_NAME"] == "breast-cancer"
    assert env["MODEL_VERSION"] == "1.2.0"


def test_requests_equal_limits_for_guaranteed_qos(container):
    resources = container["resources"]
    assert resources["requests"] == {"cpu": "500m", "memory": "512Mi"}
    assert resources["limits"] == resources["requests"]


def test_a_cpu_limit_override_keeps_memory_limit_equal_to_request():
    registered, _ = service(model(resources={"cpu": "1", "cpuLimit": "2", "memory": "2Gi"}))
    (container,) = one(registered, DEPLOYMENT)["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "2Gi"}
    assert container["resources"]["requests"] == {"cpu": "1", "memory": "2Gi"}


def test_gpus_are_requested_as_an_extended_resource():
    registered, _ = service(model(resources={"gpu": {"count": 1}}))
    (container,) = one(registered, DEPLOYMENT)["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["requests"]["nvidia.com/gpu"] == "1"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_shutdown_pauses_before_sigterm_within_a_longer_grace_period(pod, container):
    pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pause == 10
    assert pod["spec"]["terminationGracePeriodSeconds"] > pause


def test_the_image_is_the_digest_pinned_reference(container):
    assert container["image"] == DIGEST_IMAGE


def test_prometheus_scrapes_the_serving_port(pod):
    assert pod["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "8080",
        "prometheus.io/path": "/metrics",
    }


def test_the_autoscaler_targets_the_deployment_within_bounds(registered):
    spec = one(registered, HPA)["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "breast-cancer"}
    assert (spec["minReplicas"], spec["maxReplicas"]) == (1, 3)
    (metric,) = spec["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}


def test_the_autoscaler_scales_up_fast_and_down_slowly(registered):
    behavior = one(registered, HPA)["spec"]["behavior"]
    assert behavior["scaleUp"]["stabilizationWindowSeconds"] == 0
    assert behavior["scaleUp"]["selectPolicy"] == "Max"
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 300
    assert behavior["scaleDown"]["selectPolicy"] == "Min"
    assert {p["type"] for p in behavior["scaleDown"]["policies"]} == {"Percent", "Pods"}


def test_no_disruption_budget_below_two_replicas(registered):
    assert by_type(registered, PDB) == []


def test_a_disruption_budget_that_never_blocks_drains_from_two_replicas():
    registered, _ = service(model(replicas={"min": 2, "max": 4}))
    spec = one(registered, PDB)["spec"]
    assert spec["maxUnavailable"] == 1
    assert "minAvailable" not in spec
    assert spec["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    pod_labels = one(registered, DEPLOYMENT)["spec"]["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= pod_labels.items()


def test_the_network_policy_admits_only_the_serving_port(registered, pod):
    spec = one(registered, NETPOL)["spec"]
    assert spec["policyTypes"] == ["Ingress"]
    assert spec["podSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert spec["ingress"] == [{"ports": [{"port": 8080, "protocol": "TCP"}]}]


def test_a_custom_port_flows_to_container_service_probes_and_policy():
    registered, endpoint = service(model(port=9000))
    (container,) = one(registered, DEPLOYMENT)["spec"]["template"]["spec"]["containers"]
    assert container["ports"][0]["containerPort"] == 9000
    assert {"name": "PORT", "value": "9000"} in container["env"]
    assert one(registered, SERVICE)["spec"]["ports"][0]["port"] == 9000
    assert one(registered, NETPOL)["spec"]["ingress"][0]["ports"][0]["port"] == 9000
    assert endpoint.endswith(":9000")


def test_no_topology_spread_outside_production(pod):
    assert "topologySpreadConstraints" not in pod["spec"]


def test_production_spreads_pods_over_zones_and_nodes():
    registered, _ = service(model(replicas={"min": 3, "max": 6}), production=True)
    template = one(registered, DEPLOYMENT)["spec"]["template"]
    constraints = {c["topologyKey"]: c for c in template["spec"]["topologySpreadConstraints"]}
    assert set(constraints) == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    assert constraints["kubernetes.io/hostname"]["whenUnsatisfiable"] == "DoNotSchedule"
    for constraint in constraints.values():
        assert constraint["maxSkew"] == 1
        assert constraint["labelSelector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
        # A cordoned node is no domain, so a drain's replacement pods can be placed.
        assert constraint["nodeTaintsPolicy"] == "Honor"


def test_secret_env_is_referenced_from_a_secret_never_inlined():
    config = model(env={"LOG_LEVEL": "debug", "API_TOKEN": {"secretKey": "apiToken"}})
    registered, _ = service(config, secret_env={"API_TOKEN": "s3cr3t-value"})
    (container,) = one(registered, DEPLOYMENT)["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item for item in container["env"]}
    assert env["LOG_LEVEL"] == {"name": "LOG_LEVEL", "value": "debug"}
    (secret_resource,) = by_type(registered, SECRET)
    assert env["API_TOKEN"] == {
        "name": "API_TOKEN",
        "valueFrom": {
            "secretKeyRef": {"name": secret_resource.outputs["metadata"]["name"], "key": "API_TOKEN", "optional": False}
        },
    }
    assert "s3cr3t-value" not in repr(one(registered, DEPLOYMENT))
    secret = one(registered, SECRET)
    assert secret["type"] == "Opaque"
    # The engine receives the value marked secret: encrypted in state, masked in every output.
    assert rpc.is_rpc_secret(secret["stringData"])
    assert secret["stringData"]["value"] == {"API_TOKEN": "s3cr3t-value"}


def test_the_secret_is_auto_named_so_a_changed_value_rolls_the_pods():
    # pulumi-kubernetes replaces a Secret whose data changes; without an explicit name the replacement gets a new
    # name, which the Deployment references, so its pods roll onto the new value.
    config = model(env={"API_TOKEN": {"secretKey": "apiToken"}})
    registered, _ = service(config, secret_env={"API_TOKEN": "x"})
    (secret_resource,) = by_type(registered, SECRET)
    assert "name" not in secret_resource.inputs["metadata"]
    assert secret_resource.name == "breast-cancer-env"
    (container,) = one(registered, DEPLOYMENT)["spec"]["template"]["spec"]["containers"]
    (reference,) = [item["valueFrom"]["secretKeyRef"]["name"] for item in container["env"] if "valueFrom" in item]
    assert reference == secret_resource.outputs["metadata"]["name"]


@pytest.mark.parametrize("grace, pause, drain", [(45, 10, 30), (30, 0, 25), (12, 10, 1)])
def test_the_server_drains_within_the_grace_period_left_after_the_pause(grace, pause, drain):
    config = model(shutdown={"terminationGracePeriodSeconds": grace, "preStopSleepSeconds": pause})
    registered, _ = service(config)
    (container,) = one(registered, DEPLOYMENT)["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["SHUTDOWN_TIMEOUT_SECONDS"] == str(drain)


def test_the_deployment_waits_for_its_secret():
    config = model(env={"API_TOKEN": {"secretKey": "apiToken"}})
    registered, _ = service(config, secret_env={"API_TOKEN": "x"})
    (deployment,) = by_type(registered, DEPLOYMENT)
    assert any(urn.endswith("kubernetes:core/v1:Secret::breast-cancer-env") for urn in deployment.depends_on)


def test_a_missing_secret_value_is_a_programming_error():
    config = model(env={"API_TOKEN": {"secretKey": "apiToken"}})
    with pytest.raises(ValueError, match="no secret value given for env API_TOKEN"):
        service(config)


def test_no_pre_stop_pause_leaves_out_the_hook_that_kubernetes_before_1_33_rejects():
    registered, _ = service(model(shutdown={"preStopSleepSeconds": 0}))
    (container,) = one(registered, DEPLOYMENT)["spec"]["template"]["spec"]["containers"]
    assert "lifecycle" not in container
    registered, _ = service(model(shutdown={"preStopSleepSeconds": 1}))
    (container,) = one(registered, DEPLOYMENT)["spec"]["template"]["spec"]["containers"]
    assert container["lifecycle"] == {"preStop": {"sleep": {"seconds": 1}}}
