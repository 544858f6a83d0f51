"""The stack configuration: parsed once, from the raw `ml-platform:*` keys, into a typed `StackConfig`.

Everything a user can get wrong is reported here, all problems at once, one line each, naming the stack file and
the full key path (`Pulumi.dev.yaml: models.iris.replicas: min (5) must be <= max (3)`). Nothing past this module
re-validates: the components trust these objects.
"""

from __future__ import annotations

import difflib
import json
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Iterable, Literal, Mapping, Union

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from components.labels import CANARY, workload_name
from components.quantities import QuantityError, has_milli_suffix, parse_quantity

PROJECT = "ml-platform"

# A model name becomes the Deployment, Service and ServiceAccount name. Services need an RFC 1035 label (a
# DNS-1123 label that starts with a letter); 56 characters leave room for the `-canary` suffix within 63.
MODEL_NAME_MAX = 56
_DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# An image tag (the version becomes one) that is also a valid label value (<= 63, alphanumeric at both ends).
_VERSION = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
# The name part of a qualified name (`nvidia.com/gpu` -> `gpu`), as in k8s.io/apimachinery IsQualifiedName.
_QUALIFIED_NAME_PART = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PINNED = re.compile(r"[^@\s]+@sha256:[a-f0-9]{64}")
_REGISTRY = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[a-z0-9._-]+)*$")
_CONFIG_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
# A buildx builder name, as `docker buildx create --name` accepts it (buildx's store.ValidateName).
_BUILDX_BUILDER = re.compile(r"^[A-Za-z][A-Za-z0-9._-]*$")
# Pods each track keeps at least while a canary runs, by `production`: two in production, so a node drain never takes
# a whole track away (the model service splits the replicas with this floor).
CANARY_TRACK_FLOOR = {False: 1, True: 2}
# Set by the platform on every pod (the model server contract); a user value would be silently overridden.
RESERVED_ENV = ("PORT", "MODEL_NAME", "MODEL_VERSION", "SHUTDOWN_TIMEOUT_SECONDS")


class ConfigError(Exception):
    """The stack configuration is invalid; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


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
        qualified = bool(name) and _DNS_1123_SUBDOMAIN.match(domain) and _QUALIFIED_NAME_PART.match(name)
        if not qualified or len(f"requests.{domain}") > 253 or "kubernetes.io/" in value or value.startswith("requests."):
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

    # Startup gives a slow model load up to 5 minutes (60 x 5 s) before liveness takes over.
    startup: Probe = Field(default_factory=lambda: Probe(path="/v2/health/ready", period_seconds=5, failure_threshold=60))
    readiness: Probe = Field(default_factory=lambda: Probe(path="/v2/health/ready", period_seconds=5, failure_threshold=3))
    liveness: Probe = Field(default_factory=lambda: Probe(path="/v2/health/live", period_seconds=10, failure_threshold=3))


class Shutdown(_Model):
    """Graceful shutdown: a preStop pause lets endpoints drop the pod before the server gets SIGTERM."""

    pre_stop_sleep_seconds: int = Field(10, ge=0, le=300)
    termination_grace_period_seconds: int = Field(45, ge=1, le=3600)


class SecretRef(_Model):
    """An env value taken from a Pulumi secret: `{secretKey: <config key>}` (`pulumi config set --secret`)."""

    secret_key: str = Field(pattern=_CONFIG_KEY.pattern)


EnvValue = Annotated[Union[str, SecretRef], Field(union_mode="left_to_right")]


class Canary(_Model):
    """A second version taking `weight` percent of the pods (and so of the traffic) beside the stable one."""

    version: str
    build: BuildConfig | None = None
    image: str | None = None
    weight: int = Field(ge=1, le=99, description="Percent of replicas (and so of requests) running the canary.")


class ModelConfig(_Model):
    """One model: its image, version and how it runs. `defaults` are merged under it before parsing."""

    version: str
    build: BuildConfig | None = None
    image: str | None = None
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

    environment: Literal["development", "production"] = "development"
    namespace: str
    create_namespace: bool = True
    registry: RegistryConfig | None = None
    builder: str | None = None
    allow_load_balancer: bool = False
    image_pull_secrets: tuple[str, ...] = ()
    models: dict[str, ModelConfig]
    secret_values: dict[str, str] = Field(default_factory=dict, exclude=True, repr=False)

    @property
    def production(self) -> bool:
        """True for the production environment (stricter rules, topology spread)."""
        return self.environment == "production"

    def secret(self, key: str):
        """The secret config value `ml-platform:<key>` as a secret `pulumi.Output`."""
        import pulumi  # imported here so parsing stays usable without a Pulumi engine

        return pulumi.Output.secret(self.secret_values[key])

    @property
    def registry_password(self):
        """`ml-platform:registryPassword` as a secret Output, or None when not set."""
        return self.secret("registryPassword") if "registryPassword" in self.secret_values else None


# Top-level keys under `ml-platform:` and what they hold (also the did-you-mean vocabulary).
TOP_LEVEL_KEYS = (
    "environment",
    "namespace",
    "createNamespace",
    "registry",
    "registryPassword",
    "builder",
    "allowLoadBalancer",
    "imagePullSecrets",
    "defaults",
    "models",
)


# The top-level keys that hold objects, lists or booleans. Every other value (a secret above all) is a string as
# the user set it, even when it reads like JSON: `pulumi config set --secret gcpKey '{"type": ...}'`.
_STRUCTURED_KEYS = ("createNamespace", "allowLoadBalancer", "registry", "imagePullSecrets", "defaults", "models")


def raw_project_config(config: Mapping[str, Any], project: str = PROJECT) -> dict[str, Any]:
    """The `<project>:*` keys of an engine config map, prefix stripped, structured values JSON-decoded.

    The language host passes every value as a string; objects, lists and booleans arrive JSON-encoded.
    """
    prefix = f"{project}:"
    raw: dict[str, Any] = {}
    for key, value in config.items():
        if not key.startswith(prefix):
            continue
        name = key[len(prefix) :]
        if name in _STRUCTURED_KEYS and isinstance(value, str) and (value[:1] in "{[" or value in ("true", "false")):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass  # a plain string that happens to start with a brace
        raw[name] = value
    return raw


def parse_engine_config(
    config: Mapping[str, Any],
    secret_keys: Iterable[str],
    *,
    stack_file: str,
    project: str = PROJECT,
    project_dir: Path | None = None,
) -> StackConfig:
    """Parse config as the language host hands it to a program: every `<project>:*` key of the engine's map
    (values as strings) and the fully qualified keys that are secrets. Raises `ConfigError`."""
    prefix = f"{project}:"
    return parse_stack_config(
        raw_project_config(config, project),
        stack_file=stack_file,
        secret_keys={key[len(prefix) :] for key in secret_keys if key.startswith(prefix)},
        project_dir=project_dir,
    )


def parse_stack_config(
    raw: Mapping[str, Any],
    *,
    stack_file: str,
    secret_keys: set[str] | frozenset[str] = frozenset(),
    project_dir: Path | None = None,
) -> StackConfig:
    """Parse the raw `ml-platform:*` values (prefix stripped) into a `StackConfig`.

    `secret_keys` are the (prefix-stripped) keys that are Pulumi secrets. With `project_dir`, build contexts must
    exist under it (the program passes its working directory, where Pulumi runs it). Raises `ConfigError` listing
    every problem, each prefixed with `stack_file`.
    """
    problems: list[str] = []
    report = problems.append

    referenced = _referenced_secret_keys(raw)
    for key in raw:
        if key in TOP_LEVEL_KEYS or key in referenced:
            continue
        if key in secret_keys:
            report(f"{PROJECT}:{key}: secret is not used; reference it from a model's env as {{secretKey: {key}}}")
            continue
        report(f"{PROJECT}:{key}: unknown config key{_did_you_mean(key, TOP_LEVEL_KEYS, prefix=PROJECT + ':')}")

    for key in sorted(referenced | {"registryPassword"} & set(raw)):
        if key not in raw:
            continue  # reported where it is referenced
        if key not in secret_keys:
            report(f"{PROJECT}:{key}: must be a secret; set it with `pulumi config set --secret {key} <value>`")
        elif not isinstance(raw[key], str):
            report(f"{PROJECT}:{key}: must be a string")

    defaults = raw.get("defaults", {})
    if not isinstance(defaults, dict):
        report(f"defaults: must be a mapping of model settings, got {_shown(defaults)}")
        defaults = {}
    else:
        problems.extend(_unknown_keys(ModelConfig, defaults, "defaults"))

    facts = _StackFacts(
        production=raw.get("environment") == "production",
        has_registry=isinstance(raw.get("registry"), dict),
        project_dir=project_dir,
    )
    models_raw = raw.get("models")
    models: dict[str, ModelConfig] = {}
    if models_raw is None:
        report("models: required; add at least one model under ml-platform:models")
    elif not isinstance(models_raw, dict) or not models_raw:
        report(f"models: must be a non-empty mapping of model name -> settings, got {_shown(models_raw)}")
    else:
        for name, model_raw in models_raw.items():
            path = f"models.{name}"
            name_problem = _model_name_problem(str(name))
            if name_problem:
                report(f"{path}: {name_problem}")
            if not isinstance(model_raw, dict):
                report(f"{path}: must be a mapping of settings (version, build or image, ...), got {_shown(model_raw)}")
                continue
            problems.extend(_unknown_keys(ModelConfig, model_raw, path))
            merged = _deep_merge(defaults, model_raw)
            model = _validate(ModelConfig, merged, path, problems, own=model_raw, defaults=defaults)
            problems.extend(_release_rules(merged, path, facts))
            if model is not None:
                problems.extend(_typed_model_rules(path, model, raw))
                if not name_problem:
                    models[str(name)] = model
        problems.extend(_canary_name_clashes(models))

    top = {k: v for k, v in raw.items() if k in TOP_LEVEL_KEYS and k not in ("defaults", "models", "registryPassword")}
    stack = _validate(_TopLevel, top, "", problems)

    if stack is not None:
        if not _DNS_1123_LABEL.match(stack.namespace) or len(stack.namespace) > 63:
            report(f"namespace: {stack.namespace!r} is not a DNS-1123 label (lowercase letters, digits, '-'; <= 63)")
        for index, secret in enumerate(stack.image_pull_secrets):
            if not _DNS_1123_SUBDOMAIN.match(secret) or len(secret) > 253:
                report(f"imagePullSecrets[{index}]: {secret!r} is not a Secret name (a DNS-1123 subdomain)")
        if stack.registry and stack.registry.username and "registryPassword" not in raw:
            report(
                "registry.username: set, but no password; run "
                "`pulumi config set --secret registryPassword <password>`"
            )
        if "registryPassword" in raw and not (stack.registry and stack.registry.username):
            # ModelImage logs in only with a username: without one the password would be silently ignored.
            report(f"{PROJECT}:registryPassword: set, but registry.username is not; the registry login needs both")

    if problems:
        raise ConfigError([f"{stack_file}: {problem}" for problem in problems])
    assert stack is not None
    secret_values = {key: raw[key] for key in secret_keys if key in raw and isinstance(raw[key], str)}
    return StackConfig(**stack.model_dump(), models=models, secret_values=secret_values)


class _TopLevel(_Model):
    """The scalar top-level keys, validated apart from the models."""

    environment: Literal["development", "production"] = "development"
    namespace: str = Field(min_length=1)
    create_namespace: bool = True
    registry: RegistryConfig | None = None
    builder: str | None = Field(None, description="The buildx builder images are built on; None: docker-build's default.")
    allow_load_balancer: bool = False
    image_pull_secrets: tuple[str, ...] = ()

    @field_validator("builder")
    @classmethod
    def _buildx_builder_name(cls, value: str | None) -> str | None:
        if value is not None and not _BUILDX_BUILDER.match(value):
            raise ValueError(
                f"{value!r} is not a buildx builder name: a letter, then letters, digits, '.', '_' or '-' "
                "(e.g. ml-platform; `docker buildx ls` lists them)"
            )
        return value


@dataclass(frozen=True)
class _StackFacts:
    """What the model rules need to know about the stack, read from the raw config (valid or not)."""

    production: bool
    has_registry: bool
    project_dir: Path | None = None


def _release_rules(model: Mapping[str, Any], path: str, facts: _StackFacts) -> list[str]:
    """Rules spanning several keys of one model, checked on the raw (defaults-merged) mapping.

    They run even when other keys of the model are invalid, so every problem is reported in one go.
    """
    problems: list[str] = []
    replicas = model.get("replicas", {})
    if isinstance(replicas, dict):
        low, high = replicas.get("min", Replicas().min), replicas.get("max", Replicas().max)
        if _is_count(low) and _is_count(high) and low > high:
            problems.append(f"{path}.replicas: min ({low}) must be <= max ({high})")
        if facts.production and _is_count(low) and low < 2:
            problems.append(f"{path}.replicas.min: production needs at least 2 replicas to survive a node drain, got {low}")
    releases: list[tuple[str, Mapping[str, Any]]] = [(path, model)]
    canary = model.get("canary")
    if isinstance(canary, dict):
        releases.append((f"{path}.canary", canary))
        if canary.get("version") is not None and canary.get("version") == model.get("version"):
            problems.append(f"{path}.canary.version: {canary['version']!r} is the stable version; a canary needs a new one")
        high = replicas.get("max", Replicas().max) if isinstance(replicas, dict) else None
        per_track = CANARY_TRACK_FLOOR[facts.production]
        if _is_count(high) and high < 2 * per_track:
            problems.append(
                f"{path}.replicas.max: a canary needs room for two versions of at least {per_track} pod"
                f"{'s' if per_track > 1 else ''} each{' in production' if facts.production else ''}; "
                f"set max >= {2 * per_track}, got {high}"
            )
    for where, release in releases:
        version = release.get("version")
        if isinstance(version, str) and not _VERSION.match(version):
            problems.append(
                f"{where}.version: {version!r} must be an image tag and label value "
                "(letters, digits, '.', '_', '-'; alphanumeric at both ends; <= 63 characters)"
            )
        has_build, has_image = release.get("build") is not None, release.get("image") is not None
        if has_build == has_image:
            problems.append(
                f"{where}: set exactly one of `build` (build from source) or `image` (a digest-pinned reference), "
                f"got {'both' if has_build else 'neither'}"
            )
        if isinstance(release.get("image"), str):
            problems.extend(_image_problems(release["image"], f"{where}.image", facts))
        if has_build and facts.production:
            problems.append(
                f"{where}.build: production deploys only images pinned by digest; promote one "
                "(`make promote FROM=dev TO=prod`) and set `image`"
            )
        if has_build and not facts.has_registry:
            problems.append(f"{where}.build: building needs ml-platform:registry.server to push to")
        build = release.get("build")
        if facts.project_dir is not None and isinstance(build, dict) and isinstance(build.get("context"), str):
            if not (facts.project_dir / build["context"]).is_dir():
                problems.append(f"{where}.build.context: {build['context']!r} is not a directory of the project")
        if facts.project_dir is not None and isinstance(build, dict) and isinstance(build.get("caFile"), str):
            ca_problem = _ca_file_problem(facts.project_dir, build["caFile"])
            if ca_problem:
                problems.append(f"{where}.build.caFile: {ca_problem}")
    return problems


def _ca_file_problem(project_dir: Path, ca_file: str) -> str | None:
    """Why `ca_file` (relative to the project, or absolute) cannot be the build's CA secret, or None.

    The program reads it when it builds; checked here, a bad path stops the program before it registers anything.
    """
    try:
        text = (project_dir / ca_file).read_text(encoding="utf-8")
    except OSError as error:
        return f"{ca_file!r} is not a readable file ({error.strerror or error})"
    except UnicodeDecodeError:
        return f"{ca_file!r} is not a PEM file of CA certificates (not text)"
    if "-----BEGIN CERTIFICATE-----" not in text:
        return f"{ca_file!r} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
    return None


def _canary_name_clashes(models: Mapping[str, ModelConfig]) -> list[str]:
    """A model named like another model's canary track would share its Deployment, HPA and image names."""
    problems = []
    for name, model in models.items():
        clash = workload_name(name, CANARY)
        if model.canary is not None and clash in models:
            problems.append(
                f"models.{clash}: clashes with the canary of models.{name} (both would own the Deployment and HPA "
                f"{clash!r}); rename the model"
            )
    return problems


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _typed_model_rules(path: str, model: ModelConfig, raw: Mapping[str, Any]) -> list[str]:
    """Rules that need parsed values (quantities, env): checked once the model itself is valid."""
    problems: list[str] = []
    limit = model.resources.cpu_limit
    if limit is not None and parse_quantity(limit) < parse_quantity(model.resources.cpu):
        problems.append(f"{path}.resources.cpuLimit: {limit} must be >= the request cpu ({model.resources.cpu})")
    if model.shutdown.termination_grace_period_seconds <= model.shutdown.pre_stop_sleep_seconds:
        problems.append(
            f"{path}.shutdown.terminationGracePeriodSeconds: {model.shutdown.termination_grace_period_seconds} must be "
            f"longer than preStopSleepSeconds ({model.shutdown.pre_stop_sleep_seconds}) to leave time to drain requests"
        )
    for env_name, value in model.env.items():
        env_path = f"{path}.env.{env_name}"
        if not _ENV_NAME.match(env_name):
            problems.append(f"{env_path}: not a valid environment variable name (letters, digits, '_')")
        elif env_name in RESERVED_ENV:
            problems.append(f"{env_path}: set by the platform ({', '.join(RESERVED_ENV)}); choose another name")
        if isinstance(value, SecretRef) and value.secret_key not in raw:
            problems.append(
                f"{env_path}.secretKey: {PROJECT}:{value.secret_key} is not set; run "
                f"`pulumi config set --secret {value.secret_key} <value>`"
            )
    return problems


def is_pinned_by_digest(image: str) -> bool:
    """True for `<repository>@sha256:<64 lowercase hex>`, the only reference that names one image forever."""
    return _PINNED.fullmatch(image) is not None


def _image_problems(image: str, path: str, facts: _StackFacts) -> list[str]:
    if any(c.isspace() for c in image) or not image:
        return [f"{path}: {image!r} is not an image reference"]
    pinned = is_pinned_by_digest(image)
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else None
    if facts.production and not pinned:
        return [f"{path}: production needs an image pinned by digest (<repository>@sha256:<64 hex>), got {image!r}"]
    if "@" in image and not pinned:
        return [f"{path}: {image!r} has a malformed digest; expected @sha256:<64 lowercase hex>"]
    if not pinned and (tag is None or tag == "latest"):
        return [f"{path}: {image!r} floats; pin a version tag or, better, a digest (@sha256:...)"]
    return []


def _model_name_problem(name: str) -> str | None:
    if len(name) > MODEL_NAME_MAX:
        return f"model name {name!r} is longer than {MODEL_NAME_MAX} characters"
    if not _DNS_1035_LABEL.match(name):
        return (
            f"model name {name!r} must be a DNS label: lowercase letters, digits and '-', "
            "starting with a letter and ending with a letter or digit (e.g. iris, fraud-v2)"
        )
    return None


def _validate(
    cls: type[BaseModel],
    data: Any,
    path: str,
    problems: list[str],
    own: Mapping[str, Any] | None = None,
    defaults: Mapping[str, Any] | None = None,
):
    """`cls.model_validate(data)`, turning errors into problem lines; unknown keys are reported elsewhere.

    When `data` is a model merged over `defaults`, an error in a value that came from `defaults` (not from
    `own`) is reported once, at its `defaults.*` path, not once per model.
    """
    try:
        return cls.model_validate(data)
    except pydantic.ValidationError as error:
        seen: set[str] = set()
        for item in error.errors():
            if item["type"] == "extra_forbidden":
                continue
            loc = [str(part) for part in item["loc"] if not _is_union_tag(part)]
            where = path
            if own is not None and defaults is not None and not _has_path(own, loc) and _has_path(defaults, loc):
                where = "defaults"
            key = ".".join(([where] if where else []) + loc) or "(top level)"
            line = _error_line(key, item)
            # One line per key: a union (env values) reports every branch that failed.
            if key not in seen and line not in problems:
                problems.append(line)
            seen.add(key)
        return None


def _has_path(data: Any, loc: list[str]) -> bool:
    for part in loc:
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


def _error_line(key: str, item: Mapping[str, Any]) -> str:
    if item["type"] == "missing":
        return f"{key}: required key is missing"
    message = item["msg"].removeprefix("Value error, ")
    # Our own value errors already quote the value.
    if item["type"] != "value_error" and "input" in item and not isinstance(item["input"], (dict, list)):
        message += f" (got {_shown(item['input'])})"
    return f"{key}: {message}"


def _is_union_tag(part: Any) -> bool:
    return isinstance(part, str) and (part in ("str", "int", "float", "bool", "SecretRef") or "[" in part)


def _unknown_keys(cls: type[BaseModel], data: Any, path: str) -> list[str]:
    """Every key in `data` that `cls` does not define, recursively, with a did-you-mean."""
    if not isinstance(data, dict):
        return []
    problems = []
    fields = {(info.alias or name): info for name, info in cls.model_fields.items()}
    for key, value in data.items():
        info = fields.get(key)
        if info is None:
            problems.append(f"{path}.{key}: unknown key{_did_you_mean(str(key), list(fields))}")
            continue
        for nested, is_map in _nested_models(info.annotation):
            if is_map and isinstance(value, dict):
                for item_key, item in value.items():
                    if isinstance(item, dict):
                        problems.extend(_unknown_keys(nested, item, f"{path}.{key}.{item_key}"))
            elif not is_map and isinstance(value, dict):
                problems.extend(_unknown_keys(nested, value, f"{path}.{key}"))
    return problems


def _nested_models(annotation: Any) -> list[tuple[type[BaseModel], bool]]:
    """The config models inside a field's type: (model, True) for `dict[str, Model]`, (model, False) for `Model`."""
    found: list[tuple[type[BaseModel], bool]] = []
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _nested_models(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found.extend(_nested_models(arg))
    elif origin is dict:
        found.extend((model, True) for model, _ in _nested_models(typing.get_args(annotation)[1]))
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found.append((annotation, False))
    return found


def _did_you_mean(key: str, candidates, prefix: str = "") -> str:
    close = difflib.get_close_matches(key, list(candidates), n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in candidates}
        close = [lowered[key.lower()]] if key.lower() in lowered else []
    if close:
        return f"; did you mean {prefix}{close[0]}?"
    return f" (known keys: {', '.join(sorted(candidates))})"


def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`override` on top of `base`, merging nested mappings key by key (lists and scalars are replaced)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _referenced_secret_keys(raw: Mapping[str, Any]) -> set[str]:
    """Config keys named by `{secretKey: ...}` env values anywhere in defaults or models."""
    found: set[str] = set()
    blocks = [raw.get("defaults")]
    if isinstance(raw.get("models"), dict):
        blocks.extend(raw["models"].values())
    for block in blocks:
        env = block.get("env") if isinstance(block, dict) else None
        if isinstance(env, dict):
            for value in env.values():
                if isinstance(value, dict) and isinstance(value.get("secretKey"), str):
                    found.add(value["secretKey"])
    return found


def _shown(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
