"""The stack configuration's schema: the typed objects a valid stack file becomes.

Every model here is frozen and rejects unknown keys; field-level rules (ranges, patterns, quantities) sit on the
field they check. Rules that span several keys, and the wording of every problem, live in `rules.py` and
`problems.py`; `decode.py` turns the engine's config into these objects.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from components.quantities import QuantityError, has_milli_suffix, parse_quantity
from conventions import DEVELOPMENT, OLDEST_SUPPORTED_KUBERNETES, PRODUCTION, Environment

# A model name becomes the Deployment, Service and ServiceAccount name. Services need an RFC 1035 label (a
# DNS-1123 label that starts with a letter); 56 characters leave room for the `-canary` suffix within 63.
MODEL_NAME_MAX = 56
DNS_1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# The name part of a qualified name (`nvidia.com/gpu` -> `gpu`), as in k8s.io/apimachinery IsQualifiedName.
_QUALIFIED_NAME_PART = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$")
_REGISTRY = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[a-z0-9._-]+)*$")
_CONFIG_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
# A buildx builder name, as `docker buildx create --name` accepts it (buildx's store.ValidateName).
_BUILDX_BUILDER = re.compile(r"^[A-Za-z][A-Za-z0-9._-]*$")
# Set by the platform on every pod (the model server contract); a user value would be silently overridden.
RESERVED_ENV = ("PORT", "MODEL_NAME", "MODEL_VERSION", "SHUTDOWN_TIMEOUT_SECONDS")
# Also set by the platform on a pod whose model is delivered apart from the runtime (`model`): where it is mounted.
MODEL_DIR_ENV = "MODEL_DIR"
# The server's other way to find its model (one file); it refuses both at once (model/model_server/settings.py).
MODEL_PATH_ENV = "MODEL_PATH"
# A Kubernetes minor version as the stack states it: "1.34".
KUBERNETES_MINOR = re.compile(r"^1\.[0-9]{1,3}$")

# How a model artifact reaches the server's pod (docs/adr/0007-model-delivery.md): an init container copying it
# from the model image into an emptyDir (any supported Kubernetes), or an image volume (`volumes[].image`).
Delivery = Literal["initContainer", "imageVolume"]
INIT_CONTAINER: Delivery = "initContainer"
IMAGE_VOLUME: Delivery = "imageVolume"


class _Model(BaseModel):
    """Base for config models: camelCase keys, unknown keys rejected, values frozen after parsing."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)


def _quantity(value: Any) -> str:
    try:
        amount = parse_quantity(value)
    except QuantityError as error:
        raise ValueError(str(error)) from None
    if amount <= 0:
        raise ValueError(f"{value!r} must be greater than zero")
    return str(value).strip()


class BuildConfig(_Model):
    """Build the image from source with `docker build` (what dev does)."""

    context: str = Field(min_length=1, description="Build context directory, relative to the project.")
    dockerfile: str | None = Field(None, description="Dockerfile path; defaults to <context>/Dockerfile.")
    platform: str | None = Field(None, description="Target platform, e.g. linux/amd64.")
    args: dict[str, str] = Field(default_factory=dict, description="Build arguments (ARG values).")
    target: str | None = Field(None, description="Multi-stage build target.")
    ca_file: str | None = Field(
        None, min_length=1, description="PEM file of extra CA certificates, passed to the build as the secret `ca`."
    )


class ModelArtifact(_Model):
    """A model delivered apart from the runtime: a local `.onnx` file the platform packages into a small model
    image (`path`), or such an image already pushed (`image`, as promotion writes it). Exactly one of the two."""

    path: str | None = Field(None, min_length=1, description="The .onnx file, relative to the project.")
    image: str | None = Field(None, min_length=1, description="A model image, <repository>@sha256:<digest>.")
    size_limit: str | None = Field(
        None, description="The emptyDir's size limit on the init-container path; default: from the file's size."
    )

    _check_quantity = field_validator("size_limit", mode="before")(
        lambda value: None if value is None else _quantity(value)
    )


class RuntimeConfig(_Model):
    """The model server image every `model:` of the stack runs on: built from source, or pinned. Exactly one."""

    build: BuildConfig | None = None
    image: str | None = None


class Replicas(_Model):
    """Bounds for the HorizontalPodAutoscaler."""

    min: int = Field(1, ge=1)
    max: int = Field(3, ge=1)


class GpuConfig(_Model):
    """GPUs requested per pod, as an extended resource (requests = limits)."""

    count: int = Field(ge=1)
    resource: str = Field("nvidia.com/gpu", min_length=1)

    @field_validator("resource")
    @classmethod
    def _extended_resource_name(cls, value: str) -> str:
        # What the API server accepts as a container's extended resource (IsExtendedResourceName): a domain-qualified
        # name outside kubernetes.io. Anything else would pass here and fail only when `pulumi up` applies the pod.
        domain, _, name = value.partition("/")
        qualified = bool(name) and DNS_1123_SUBDOMAIN.match(domain) and _QUALIFIED_NAME_PART.match(name)
        if (
            not qualified
            or len(f"requests.{domain}") > 253
            or "kubernetes.io/" in value
            or value.startswith("requests.")
        ):
            raise ValueError(
                f"{value!r} is not an extended resource name: <domain>/<name> outside kubernetes.io "
                "(e.g. nvidia.com/gpu, amd.com/gpu)"
            )
        return value


class Resources(_Model):
    """Per-pod compute resources. Memory limit = request; CPU limit defaults to the request (Guaranteed QoS)."""

    cpu: str = "500m"
    memory: str = "512Mi"
    cpu_limit: str | None = None
    gpu: GpuConfig | None = None

    _check_quantity = field_validator("cpu", "memory", "cpu_limit", mode="before")(
        lambda value: None if value is None else _quantity(value)
    )

    @field_validator("memory")
    @classmethod
    def _no_millibytes(cls, value: str) -> str:
        if has_milli_suffix(value):
            raise ValueError(f"{value!r} means thousandths of a byte; write {value[:-1]}Mi or {value[:-1]}M")
        return value


class ScalingPolicy(_Model):
    """One direction of HPA behaviour: how fast the autoscaler may add or remove pods."""

    stabilization_window_seconds: int = Field(ge=0, le=3600)
    max_percent: int = Field(ge=1, description="At most this percentage of current pods per period.")
    max_pods: int = Field(ge=1, description="At most this many pods per period.")
    period_seconds: int = Field(ge=1, le=1800)


def _scale_up() -> ScalingPolicy:
    # Fast up: react at once, double or add 4 pods every 15 s, whichever is more.
    return ScalingPolicy(stabilization_window_seconds=0, max_percent=100, max_pods=4, period_seconds=15)


def _scale_down() -> ScalingPolicy:
    # Stabilized down: wait 5 minutes of lower load, then shed at most half or 2 pods a minute.
    return ScalingPolicy(stabilization_window_seconds=300, max_percent=50, max_pods=2, period_seconds=60)


class Autoscaling(_Model):
    """HPA target and behaviour."""

    target_cpu_utilization: int = Field(70, ge=1, le=100, alias="targetCPUUtilization")
    scale_up: ScalingPolicy = Field(default_factory=_scale_up)
    scale_down: ScalingPolicy = Field(default_factory=_scale_down)


class Probe(_Model):
    """One HTTP probe on the model server."""

    path: str = Field(pattern=r"^/")
    initial_delay_seconds: int = Field(0, ge=0)
    period_seconds: int = Field(10, ge=1)
    timeout_seconds: int = Field(2, ge=1)
    failure_threshold: int = Field(3, ge=1)


class Probes(_Model):
    """Startup, readiness and liveness probes; defaults match the model server (model/)."""

    # Startup gives a slow model load up to 5 minutes (300 x 1 s) before liveness takes over. Probed every second:
    # the kubelet only learns a pod is up at a probe, and a 5 s period left a warmed-up pod waiting up to 5 s per
    # rollout step (and per HPA scale-up). Readiness takes over after startup succeeds; every 2 s, unready after 6 s.
    startup: Probe = Field(
        default_factory=lambda: Probe(path="/v2/health/ready", period_seconds=1, failure_threshold=300)
    )
    readiness: Probe = Field(
        default_factory=lambda: Probe(path="/v2/health/ready", period_seconds=2, failure_threshold=3)
    )
    liveness: Probe = Field(
        default_factory=lambda: Probe(path="/v2/health/live", period_seconds=10, failure_threshold=3)
    )


class Shutdown(_Model):
    """Graceful shutdown: a preStop pause lets endpoints drop the pod before the server gets SIGTERM."""

    pre_stop_sleep_seconds: int = Field(10, ge=0, le=300)
    termination_grace_period_seconds: int = Field(45, ge=1, le=3600)


class SecretRef(_Model):
    """An env value taken from a Pulumi secret: `{secretKey: <config key>}` (`pulumi config set --secret`)."""

    secret_key: str = Field(pattern=_CONFIG_KEY.pattern)


EnvValue = Annotated[str | SecretRef, Field(union_mode="left_to_right")]


class Canary(_Model):
    """A second version taking `weight` percent of the pods (and so of the traffic) beside the stable one."""

    version: str
    build: BuildConfig | None = None
    image: str | None = None
    model: ModelArtifact | None = None
    weight: int = Field(ge=1, le=99, description="Percent of replicas (and so of requests) running the canary.")


class ModelConfig(_Model):
    """One model: its image, version and how it runs. `defaults` are merged under it before parsing."""

    version: str
    build: BuildConfig | None = None
    image: str | None = None
    model: ModelArtifact | None = None
    model_delivery: Delivery | None = Field(None, description="Overrides the stack's modelDelivery.")
    replicas: Replicas = Field(default_factory=Replicas)
    resources: Resources = Field(default_factory=Resources)
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)
    port: int = Field(8080, ge=1024, le=65535, description="Unprivileged port: the pod may not bind below 1024.")
    env: dict[str, EnvValue] = Field(default_factory=dict)
    probes: Probes = Field(default_factory=Probes)
    shutdown: Shutdown = Field(default_factory=Shutdown)
    canary: Canary | None = None

    @property
    def secret_env(self) -> dict[str, str]:
        """Env var name -> the Pulumi config key holding its secret value."""
        return {name: value.secret_key for name, value in self.env.items() if isinstance(value, SecretRef)}

    @property
    def plain_env(self) -> dict[str, str]:
        """Env var name -> plain value."""
        return {name: value for name, value in self.env.items() if isinstance(value, str)}


class RegistryConfig(_Model):
    """Where built images are pushed; the password is the secret key `ml-platform:registryPassword`."""

    server: str = Field(min_length=1)
    username: str | None = None

    @field_validator("server")
    @classmethod
    def _registry_host(cls, value: str) -> str:
        if not _REGISTRY.match(value):
            raise ValueError(
                f"{value!r} is not a registry: a host[:port] with an optional path, no scheme "
                "(e.g. localhost:5001, ghcr.io/acme)"
            )
        return value


class StackConfig(_Model):
    """The whole stack, typed. Secret values stay out of repr and out of any dump."""

    environment: Environment = DEVELOPMENT
    namespace: str
    create_namespace: bool = True
    registry: RegistryConfig | None = None
    builder: str | None = None
    allow_load_balancer: bool = False
    image_pull_secrets: tuple[str, ...] = ()
    runtime: RuntimeConfig | None = None
    model_delivery: Delivery = INIT_CONTAINER
    kubernetes_version: str = OLDEST_SUPPORTED_KUBERNETES
    models: dict[str, ModelConfig]
    secret_values: dict[str, str] = Field(default_factory=dict, exclude=True, repr=False)

    @property
    def production(self) -> bool:
        """True for the production environment (stricter rules, topology spread)."""
        return self.environment == PRODUCTION

    def secret(self, key: str):
        """The secret config value `ml-platform:<key>` as a secret `pulumi.Output`."""
        import pulumi  # imported here so parsing stays usable without a Pulumi engine

        return pulumi.Output.secret(self.secret_values[key])

    def delivery(self, model: ModelConfig) -> Delivery:
        """How `model`'s artifact reaches its pods: its own `modelDelivery`, else the stack's."""
        return model.model_delivery or self.model_delivery

    @property
    def registry_password(self):
        """`ml-platform:registryPassword` as a secret Output, or None when not set."""
        return self.secret("registryPassword") if "registryPassword" in self.secret_values else None


class TopLevelConfig(_Model):
    """The scalar top-level keys, validated apart from the models."""

    environment: Environment = DEVELOPMENT
    namespace: str = Field(min_length=1)
    create_namespace: bool = True
    registry: RegistryConfig | None = None
    builder: str | None = Field(
        None, description="The buildx builder images are built on; None: docker-build's default."
    )
    allow_load_balancer: bool = False
    image_pull_secrets: tuple[str, ...] = ()
    runtime: RuntimeConfig | None = None
    model_delivery: Delivery = INIT_CONTAINER
    kubernetes_version: str = OLDEST_SUPPORTED_KUBERNETES

    @field_validator("kubernetes_version")
    @classmethod
    def _minor_version(cls, value: str) -> str:
        if not KUBERNETES_MINOR.match(value):
            raise ValueError(f'{value!r} is not a Kubernetes minor version; write it quoted, e.g. "1.34"')
        return value

    @field_validator("builder")
    @classmethod
    def _buildx_builder_name(cls, value: str | None) -> str | None:
        if value is not None and not _BUILDX_BUILDER.match(value):
            raise ValueError(
                f"{value!r} is not a buildx builder name: a letter, then letters, digits, '.', '_' or '-' "
                "(e.g. ml-platform; `docker buildx ls` lists them)"
            )
        return value
