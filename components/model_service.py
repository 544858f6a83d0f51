"""`ModelService`: everything one model needs to serve in a namespace.

A ServiceAccount (no token mounted), a Secret for secret env values (when there are any), per track (stable, and
canary when configured) a Deployment, an autoscaling/v2 HPA and a PodDisruptionBudget (when that track's minimum is
at least 2), one ClusterIP Service in front of both tracks, and a NetworkPolicy admitting only the serving port.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.canary import TrackReplicas, split_replicas
from components.config import ModelConfig, ScalingPolicy
from components.labels import model_selector, standard_labels, track_selector, workload_name
from components.model_delivery import DeliveredModel
from components.pod_spec import TrackRelease, build_pod_template, secret_name
from components.probes import PORT_NAME
from conventions import CANARY, STABLE, canary_track_floor

TYPE_TOKEN = "ml-platform:index:ModelService"


@dataclass
class ModelServiceArgs:
    """Typed arguments of a `ModelService`.

    `image` (and `canary_image` when `config.canary` is set) are digest-pinned references, usually a
    `ModelImage.image_ref` or `config.image`. When the model is delivered apart from the server (`config.model`),
    `image` is the stack's runtime and `model` (and `canary_model`) the model image and how it reaches the pod.
    `secret_env` maps each env var named in `config.secret_env` to
    its secret value (a secret `pulumi.Output`). `production` turns on topology spread and a floor of 2 pods
    per track. `image_pull_secrets` names existing registry Secrets in the namespace.
    """

    config: ModelConfig
    namespace: pulumi.Input[str]
    image: pulumi.Input[str]
    canary_image: pulumi.Input[str] | None = None
    model: DeliveredModel | None = None
    canary_model: DeliveredModel | None = None
    secret_env: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    production: bool = False
    image_pull_secrets: tuple[str, ...] = ()


def track_replicas(config: ModelConfig, production: bool) -> dict[str, TrackReplicas]:
    """HPA bounds per track: the model's bounds, or split by the canary weight."""
    if config.canary is None:
        return {STABLE: TrackReplicas(config.replicas.min, config.replicas.max)}
    stable, canary = split_replicas(config.replicas, config.canary.weight, floor=canary_track_floor(production))
    return {STABLE: stable, CANARY: canary}


def endpoint(service: str, namespace: str, port: int) -> str:
    """The in-cluster URL of a model's Service."""
    return f"http://{service}.{namespace}.svc.cluster.local:{port}"


class ModelService(pulumi.ComponentResource):
    """One model served on Kubernetes: see the module docstring for the objects it owns.

    Children are kept as attributes: `service_account`, `secret` (or None), `deployments`, `autoscalers` and
    `disruption_budgets` (keyed by track), `service`, `network_policy`. Outputs: `service_name`, `endpoint`,
    `image`, `model_image` (or None), `version`, and `canary` (`{image, version, weight[, modelImage]}` or None).
    """

    def __init__(self, name: str, args: ModelServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE_TOKEN, name, None, opts)
        config = args.config
        child = pulumi.ResourceOptions(parent=self)
        self.model_name = name

        self.service_account = k8s.core.v1.ServiceAccount(
            name,
            metadata=self._metadata(name, args, config.version),
            automount_service_account_token=False,
            opts=child,
        )

        self.secret = self._secret(name, args, child)

        if (config.model is None) != (args.model is None):
            raise ValueError(f"ModelService {name}: `model` must be given exactly when config.model is set")
        releases = [TrackRelease(STABLE, config.version, args.image, args.model)]
        if config.canary is not None:
            if args.canary_image is None:
                raise ValueError(f"ModelService {name}: config has a canary but no canary_image was given")
            releases.append(TrackRelease(CANARY, config.canary.version, args.canary_image, args.canary_model))
        bounds = track_replicas(config, args.production)

        self.deployments: dict[str, k8s.apps.v1.Deployment] = {}
        self.autoscalers: dict[str, k8s.autoscaling.v2.HorizontalPodAutoscaler] = {}
        self.disruption_budgets: dict[str, k8s.policy.v1.PodDisruptionBudget] = {}
        for release in releases:
            self._track(name, args, release, bounds[release.track], child)

        self.service = k8s.core.v1.Service(
            name,
            metadata=self._metadata(name, args, config.version),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                # No track label: both versions sit behind the one Service, split by ready pods.
                selector=model_selector(name),
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name=PORT_NAME, port=config.port, target_port=PORT_NAME, protocol="TCP", app_protocol="http"
                    )
                ],
            ),
            opts=child,
        )

        self.network_policy = k8s.networking.v1.NetworkPolicy(
            name,
            metadata=self._metadata(name, args, config.version),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=model_selector(name)),
                policy_types=["Ingress"],
                # From anywhere, but only to the serving port (which also serves /metrics).
                ingress=[
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=config.port, protocol="TCP")]
                    )
                ],
            ),
            opts=child,
        )

        self.service_name: pulumi.Output[str] = self.service.metadata.name
        self.endpoint: pulumi.Output[str] = pulumi.Output.all(self.service.metadata.name, args.namespace).apply(
            lambda parts: endpoint(parts[0], parts[1], config.port)
        )
        self.image: pulumi.Output[str] = pulumi.Output.from_input(args.image)
        self.model_image: pulumi.Output[str] | None = (
            pulumi.Output.from_input(args.model.image) if args.model is not None else None
        )
        self.version: str = config.version
        self.canary: pulumi.Output | None = None
        if config.canary is not None:
            canary: dict[str, pulumi.Input] = {
                "image": args.canary_image,
                "version": config.canary.version,
                "weight": config.canary.weight,
            }
            if args.canary_model is not None:
                canary["modelImage"] = args.canary_model.image
            self.canary = pulumi.Output.from_input(canary)
        self.register_outputs(
            {
                "serviceName": self.service_name,
                "endpoint": self.endpoint,
                "image": self.image,
                "modelImage": self.model_image,
                "version": self.version,
                "canary": self.canary,
            }
        )

    @staticmethod
    def _metadata(
        model: str,
        args: ModelServiceArgs,
        version: str,
        *,
        name: str | None = None,
        track: str | None = None,
        annotations: dict[str, str] | None = None,
        auto_name: bool = False,
    ) -> k8s.meta.v1.ObjectMetaArgs:
        """Metadata with the recommended labels and an explicit name (predictable in-cluster names), unless
        `auto_name` leaves the name to Pulumi."""
        return k8s.meta.v1.ObjectMetaArgs(
            name=None if auto_name else (name or model),
            namespace=args.namespace,
            labels=standard_labels(model, version, track),
            annotations=annotations,
        )

    def _secret(self, name: str, args: ModelServiceArgs, child: pulumi.ResourceOptions):
        wanted = args.config.secret_env
        if not wanted:
            return None
        missing = sorted(set(wanted) - set(args.secret_env))
        if missing:
            raise ValueError(f"ModelService {name}: no secret value given for env {', '.join(missing)}")
        return k8s.core.v1.Secret(
            secret_name(name),
            # Auto-named: Pulumi replaces it under a new name when a value changes, and the Deployments reference
            # that name, so a rotated secret rolls the pods instead of going unnoticed by them.
            metadata=self._metadata(name, args, args.config.version, auto_name=True),
            type="Opaque",
            # Values stay Pulumi secrets: encrypted in state, masked in output.
            string_data={env: pulumi.Output.secret(args.secret_env[env]) for env in sorted(wanted)},
            opts=child,
        )

    def _track(
        self,
        model: str,
        args: ModelServiceArgs,
        release: TrackRelease,
        bounds: TrackReplicas,
        child: pulumi.ResourceOptions,
    ) -> None:
        config = args.config
        workload = workload_name(model, release.track)
        annotations = None
        if config.secret_env:
            annotations = {
                "checkov.io/skip1": "CKV_K8S_35=secret env values come from a Secret by secretKeyRef, as the model "
                "server reads its settings from the environment; the Secret is never in the pod spec itself",
            }
        deployment = k8s.apps.v1.Deployment(
            workload,
            metadata=self._metadata(
                model, args, release.version, name=workload, track=release.track, annotations=annotations
            ),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                # Created at the HPA's floor: without `replicas` the API server starts a Deployment at 1 pod and
                # `pulumi up` reports success long before the HPA raises it (35 s, measured on a real API server).
                # After the create, `ignore_changes` below leaves the count to the HPA.
                replicas=bounds.min,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=track_selector(model, release.track)),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    # Never below the current capacity during a rollout: new pods first, old ones after.
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_unavailable=0, max_surge="25%"),
                ),
                min_ready_seconds=5,
                revision_history_limit=5,
                template=build_pod_template(
                    model,
                    config,
                    release,
                    service_account=self.service_account.metadata.name,
                    spread=args.production,
                    image_pull_secrets=args.image_pull_secrets,
                    secret=self.secret.metadata.name if self.secret is not None else None,
                ),
            ),
            opts=pulumi.ResourceOptions.merge(
                child,
                pulumi.ResourceOptions(
                    # Never diff or re-apply the count after the create: the HPA owns it. pulumi-kubernetes 4.x
                    # drops ignored fields from its server-side apply patch (tests/cluster checks it for real).
                    ignore_changes=["spec.replicas"],
                    depends_on=[self.secret] if self.secret is not None else None,
                ),
            ),
        )
        self.deployments[release.track] = deployment

        self.autoscalers[release.track] = k8s.autoscaling.v2.HorizontalPodAutoscaler(
            workload,
            metadata=self._metadata(model, args, release.version, name=workload, track=release.track),
            spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                    api_version="apps/v1", kind="Deployment", name=deployment.metadata.name
                ),
                min_replicas=bounds.min,
                max_replicas=bounds.max,
                metrics=[
                    k8s.autoscaling.v2.MetricSpecArgs(
                        type="Resource",
                        resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                            name="cpu",
                            target=k8s.autoscaling.v2.MetricTargetArgs(
                                type="Utilization", average_utilization=config.autoscaling.target_cpu_utilization
                            ),
                        ),
                    )
                ],
                behavior=k8s.autoscaling.v2.HorizontalPodAutoscalerBehaviorArgs(
                    # Up: the larger of the two policies (fast); down: the smaller (cautious).
                    scale_up=scaling_rules(config.autoscaling.scale_up, select_policy="Max"),
                    scale_down=scaling_rules(config.autoscaling.scale_down, select_policy="Min"),
                ),
            ),
            opts=child,
        )

        if bounds.min >= 2:
            self.disruption_budgets[release.track] = k8s.policy.v1.PodDisruptionBudget(
                workload,
                metadata=self._metadata(model, args, release.version, name=workload, track=release.track),
                spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                    # One pod at a time, never zero: a drain always makes progress.
                    max_unavailable=1,
                    selector=k8s.meta.v1.LabelSelectorArgs(match_labels=track_selector(model, release.track)),
                    # Pods that are not ready (crash-looping) can always be evicted, so they never block a drain.
                    unhealthy_pod_eviction_policy="AlwaysAllow",
                ),
                opts=child,
            )


def scaling_rules(policy: ScalingPolicy, *, select_policy: str) -> k8s.autoscaling.v2.HPAScalingRulesArgs:
    """HPA scaling rules from one direction's policy: a percent and a pod-count limit per period."""
    return k8s.autoscaling.v2.HPAScalingRulesArgs(
        stabilization_window_seconds=policy.stabilization_window_seconds,
        select_policy=select_policy,
        policies=[
            k8s.autoscaling.v2.HPAScalingPolicyArgs(
                type="Percent", value=policy.max_percent, period_seconds=policy.period_seconds
            ),
            k8s.autoscaling.v2.HPAScalingPolicyArgs(
                type="Pods", value=policy.max_pods, period_seconds=policy.period_seconds
            ),
        ],
    )
