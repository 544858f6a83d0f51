"""The pod template of a model server: one container, hardened, probed, with a writable /tmp only.

Pure functions of typed config, so a test can call them without a Pulumi engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.config import RESERVED_ENV, ModelConfig
from components.labels import standard_labels, track_selector
from components.model_delivery import DeliveredModel, init_containers, model_volume, server_env, server_mount
from components.probes import PORT_NAME, http_probe
from components.security import container_security_context, pod_security_context

CONTAINER_NAME = "model-server"
METRICS_PATH = "/metrics"
# /tmp is the only writable path (the root filesystem is read-only); the server keeps scratch files there.
TMP_SIZE_LIMIT = "256Mi"
ZONE_KEY = "topology.kubernetes.io/zone"
HOSTNAME_KEY = "kubernetes.io/hostname"


@dataclass(frozen=True)
class TrackRelease:
    """What one track of a model runs: its version, the digest-pinned image reference (the stack's runtime when the
    model is delivered apart from it) and that model artifact, if any."""

    track: str
    version: str
    image: pulumi.Input[str]
    model: DeliveredModel | None = None


def secret_name(model: str) -> str:
    """The Pulumi name of the Secret holding a model's secret env values.

    The Kubernetes name is this plus a random suffix (auto-naming): a changed value replaces the Secret under a
    new name, and the Deployment referencing that name rolls its pods onto the new value.
    """
    return f"{model}-env"


# Time the server keeps after its drain timeout to close connections and exit before the kubelet kills it.
SHUTDOWN_MARGIN_SECONDS = 5


def drain_seconds(config: ModelConfig) -> int:
    """How long the server may finish in-flight requests after SIGTERM (`SHUTDOWN_TIMEOUT_SECONDS`).

    The grace period counts from the start of the preStop pause, so what is left after the pause, less a margin
    to exit, is the drain; a longer drain would be cut short by SIGKILL.
    """
    left = config.shutdown.termination_grace_period_seconds - config.shutdown.pre_stop_sleep_seconds
    return max(1, left - SHUTDOWN_MARGIN_SECONDS)


def env_vars(
    model: str, config: ModelConfig, version: str, secret: pulumi.Input[str] | None = None
) -> list[k8s.core.v1.EnvVarArgs]:
    """The platform's variables (the server contract), then plain values, then `secretKeyRef`s to `secret`,
    the Kubernetes name of the model's Secret (required when the model has secret env values)."""
    if config.secret_env and secret is None:
        raise ValueError(f"model {model}: secret env values need the name of their Secret")
    env = [
        k8s.core.v1.EnvVarArgs(name="PORT", value=str(config.port)),
        k8s.core.v1.EnvVarArgs(name="MODEL_NAME", value=model),
        k8s.core.v1.EnvVarArgs(name="MODEL_VERSION", value=version),
        k8s.core.v1.EnvVarArgs(name="SHUTDOWN_TIMEOUT_SECONDS", value=str(drain_seconds(config))),
    ]
    env += [k8s.core.v1.EnvVarArgs(name=name, value=value) for name, value in sorted(config.plain_env.items())]
    env += [
        k8s.core.v1.EnvVarArgs(
            name=name,
            value_from=k8s.core.v1.EnvVarSourceArgs(
                secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=secret, key=name, optional=False)
            ),
        )
        for name in sorted(config.secret_env)
    ]
    return env


def resource_requirements(config: ModelConfig) -> k8s.core.v1.ResourceRequirementsArgs:
    """Requests = limits (Guaranteed QoS) unless a higher `cpuLimit` is given; memory limit always = request."""
    resources = config.resources
    requests = {"cpu": resources.cpu, "memory": resources.memory}
    limits = {"cpu": resources.cpu_limit or resources.cpu, "memory": resources.memory}
    if resources.gpu is not None:
        # Extended resources must have requests equal to limits.
        requests[resources.gpu.resource] = str(resources.gpu.count)
        limits[resources.gpu.resource] = str(resources.gpu.count)
    return k8s.core.v1.ResourceRequirementsArgs(requests=requests, limits=limits)


def container(
    model: str, config: ModelConfig, release: TrackRelease, secret: pulumi.Input[str] | None = None
) -> k8s.core.v1.ContainerArgs:
    """The model server container (`secret`: the Kubernetes name of the model's Secret, if it has one)."""
    env = env_vars(model, config, release.version, secret)
    mounts = [k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")]
    if release.model is not None:
        platform = len(RESERVED_ENV)  # env_vars puts the platform's own variables first
        env[platform:platform] = server_env()  # after them, before the user's
        mounts.append(server_mount())
    return k8s.core.v1.ContainerArgs(
        name=CONTAINER_NAME,
        image=release.image,
        # The reference is pinned by digest: the node's copy can never be stale.
        image_pull_policy="IfNotPresent",
        ports=[k8s.core.v1.ContainerPortArgs(name=PORT_NAME, container_port=config.port, protocol="TCP")],
        env=env,
        resources=resource_requirements(config),
        security_context=container_security_context(),
        startup_probe=http_probe(config.probes.startup),
        readiness_probe=http_probe(config.probes.readiness),
        liveness_probe=http_probe(config.probes.liveness),
        lifecycle=pre_stop_pause(config.shutdown.pre_stop_sleep_seconds),
        volume_mounts=mounts,
        termination_message_policy="FallbackToLogsOnError",
    )


def pre_stop_pause(seconds: int) -> k8s.core.v1.LifecycleArgs | None:
    """Keep serving while the endpoint removal reaches every proxy, then take SIGTERM; None for no pause.

    The sleep action (Kubernetes 1.30+) needs no shell or `sleep` binary in the image. A zero sleep is rejected by
    the API server before 1.33 (PodLifecycleSleepActionAllowZero), so no pause means no hook at all.
    """
    if seconds == 0:
        return None
    sleep = k8s.core.v1.SleepActionArgs(seconds=seconds)
    return k8s.core.v1.LifecycleArgs(pre_stop=k8s.core.v1.LifecycleHandlerArgs(sleep=sleep))


def topology_spread(model: str, track: str) -> list[k8s.core.v1.TopologySpreadConstraintArgs]:
    """Spread one track's pods over zones (best effort) and nodes (enforced)."""
    selector = k8s.meta.v1.LabelSelectorArgs(match_labels=track_selector(model, track))
    # pod-template-hash: count only pods of the same rollout, so a rolling update does not skew the spread.
    # nodeTaintsPolicy Honor: a cordoned node (tainted unschedulable) is no domain. Counted (the default, Ignore),
    # a drained node's zero pods skew every other node: on a two-node cluster the drain's replacement pod would stay
    # Pending, and the drain stuck behind the PodDisruptionBudget (tests/cluster/test_real_rollout.py drains one).
    return [
        k8s.core.v1.TopologySpreadConstraintArgs(
            max_skew=1,
            topology_key=ZONE_KEY,
            # Best effort: a cluster with one zone, or a zone down, must still schedule.
            when_unsatisfiable="ScheduleAnyway",
            label_selector=selector,
            match_label_keys=["pod-template-hash"],
            node_taints_policy="Honor",
        ),
        k8s.core.v1.TopologySpreadConstraintArgs(
            max_skew=1,
            topology_key=HOSTNAME_KEY,
            when_unsatisfiable="DoNotSchedule",
            label_selector=selector,
            match_label_keys=["pod-template-hash"],
            node_taints_policy="Honor",
        ),
    ]


def scrape_annotations(config: ModelConfig) -> dict[str, str]:
    """Prometheus scrape annotations: metrics are served on the serving port."""
    return {"prometheus.io/scrape": "true", "prometheus.io/port": str(config.port), "prometheus.io/path": METRICS_PATH}


def build_pod_template(
    model: str,
    config: ModelConfig,
    release: TrackRelease,
    *,
    service_account: pulumi.Input[str],
    spread: bool,
    image_pull_secrets: tuple[str, ...] = (),
    secret: pulumi.Input[str] | None = None,
) -> k8s.core.v1.PodTemplateSpecArgs:
    """The pod template for one track of a model (`image_pull_secrets`: existing registry Secrets to pull with;
    `secret`: the Kubernetes name of the model's Secret, if it has one)."""
    volumes = [
        k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=TMP_SIZE_LIMIT))
    ]
    if release.model is not None:
        volumes.append(model_volume(release.model))
    return k8s.core.v1.PodTemplateSpecArgs(
        metadata=k8s.meta.v1.ObjectMetaArgs(
            labels=standard_labels(model, release.version, release.track),
            annotations=scrape_annotations(config),
        ),
        spec=k8s.core.v1.PodSpecArgs(
            service_account_name=service_account,
            automount_service_account_token=False,
            # Service links inject one env var per Service in the namespace: noise, and a startup cost.
            enable_service_links=False,
            security_context=pod_security_context(),
            init_containers=(init_containers(release.model) or None) if release.model is not None else None,
            containers=[container(model, config, release, secret)],
            volumes=volumes,
            termination_grace_period_seconds=config.shutdown.termination_grace_period_seconds,
            topology_spread_constraints=topology_spread(model, release.track) if spread else None,
            image_pull_secrets=[k8s.core.v1.LocalObjectReferenceArgs(name=name) for name in image_pull_secrets] or None,
        ),
    )
