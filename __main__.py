"""The ml-platform program: read the stack config once, then for each model its images (when built) and a service."""

from pathlib import Path

import pulumi
from pulumi.runtime import config as runtime_config

from components.config import BuildConfig, Canary, ConfigError, ModelConfig, StackConfig, parse_engine_config
from components.labels import workload_name
from components.model_delivery import DeliveredModel
from components.model_image import ModelImage, ModelImageArgs
from components.model_package import CONTEXTS_DIR, PackagedModel, PackagingError, write_context
from components.model_service import ModelService, ModelServiceArgs
from components.namespace import create_namespace
from components.quantities import parse_quantity
from conventions import CANARY, PROJECT, STABLE

# The repository of the stack's runtime (tagged with the stack's name) and the prefix of its model images.
RUNTIME_REPOSITORY = "model-server"
MODEL_REPOSITORY = "models"
# A model image pinned by digest carries no size the program can read offline: on the init-container path its
# emptyDir gets room for most models (`model.sizeLimit` overrides it).
DEFAULT_MODEL_SIZE_LIMIT = "1Gi"


def read_config() -> StackConfig:
    """All `ml-platform:*` values the language host passed (PULUMI_CONFIG), parsed; exits cleanly on bad config."""
    engine = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret_keys = set(runtime_config.get_config_secret_keys_env())
    secret_keys |= {key for key in engine if runtime_config.is_config_secret(key)}
    try:
        return parse_engine_config(
            engine,
            secret_keys,
            stack_file=f"Pulumi.{pulumi.get_stack()}.yaml",
            project=PROJECT,
            project_dir=Path.cwd(),
        )
    except ConfigError as error:
        # RunError: the CLI prints the message alone, no traceback, and exits non-zero; nothing was registered.
        raise pulumi.RunError("\n".join(error.problems)) from None


def deployed_image(
    stack: StackConfig, runtime: pulumi.Input[str] | None, model: str, track: str, release: ModelConfig | Canary
) -> pulumi.Input[str]:
    """The digest-pinned server image a track runs: the stack's runtime for a `model`, else the configured `image`
    or the digest of a `build` pushed now."""
    # The stack config holds exactly one of `model`, `build` and `image`; a `model` needs the runtime, a build a
    # registry.
    if release.model is not None:
        assert runtime is not None
        return runtime
    if release.build is None:
        assert release.image is not None
        return release.image
    return pushed(stack, workload_name(model, track), model, release.version, release.build)


def pushed(stack: StackConfig, name: str, repository: str, tag: str, build: BuildConfig, cache: bool = True):
    """Build `build` and push it to the stack's registry as `<repository>:<tag>`; its digest-pinned reference."""
    assert stack.registry is not None
    args = ModelImageArgs(repository, tag, build, stack.registry, stack.registry_password, stack.builder, cache)
    return ModelImage(name, args).image_ref


def tracks(model: ModelConfig) -> list[tuple[str, ModelConfig | Canary]]:
    """(track, release) for the stable release and the canary, if any."""
    return [(STABLE, model)] + ([(CANARY, model.canary)] if model.canary else [])


def packaged_models(stack: StackConfig) -> dict[str, PackagedModel]:
    """Each `model.path` (by workload name) written as its model image's build context, before anything is
    registered: a model file the manifest refuses stops the program as a config error does."""
    packaged = {}
    contexts = Path.cwd() / CONTEXTS_DIR
    try:
        for name, model in stack.models.items():
            for track, release in tracks(model):
                if release.model is not None and release.model.path is not None:
                    package = write_context(
                        Path(release.model.path),
                        contexts / workload_name(name, track),
                        name=name,
                        version=release.version,
                        cache_dir=contexts / ".copier",
                    )
                    # A `sizeLimit` below the packaged size would get the copier's pod evicted: refused here.
                    limit = release.model.size_limit
                    if limit and parse_quantity(limit) < package.size_bytes:
                        key = f"models.{name}" + (".canary" if track != STABLE else "") + ".model.sizeLimit"
                        raise ValueError(
                            f"{key}: {limit} is less than the model's {package.size_bytes} bytes; raise it, "
                            f"or drop it for the default ({package.size_limit})"
                        )
                    packaged[workload_name(name, track)] = package
    except (PackagingError, ValueError) as error:
        raise pulumi.RunError(f"Pulumi.{pulumi.get_stack()}.yaml: {error}") from None
    except OSError as error:
        # A full disk or a folder it may not write: one line with the path, not a traceback.
        raise pulumi.RunError(f"packaging the stack's models in {contexts}: {error}") from None
    return packaged


def delivered_model(
    stack: StackConfig, packages: dict[str, PackagedModel], model: str, track: str, release: ModelConfig | Canary
) -> DeliveredModel | None:
    """The model image a track mounts (configured, or packaged and pushed now) and how; None without `model`."""
    if release.model is None:
        return None
    delivery = stack.delivery(stack.models[model])
    if release.model.image is not None:
        return DeliveredModel(release.model.image, delivery, release.model.size_limit or DEFAULT_MODEL_SIZE_LIMIT)
    package = packages[workload_name(model, track)]
    # SOURCE_DATE_EPOCH=0: the image config's dates, too, are the same for the same model file.
    build = BuildConfig(context=package.context.relative_to(Path.cwd()).as_posix(), args={"SOURCE_DATE_EPOCH": "0"})
    repository = f"{MODEL_REPOSITORY}/{model}"
    image = pushed(stack, f"{workload_name(model, track)}-model", repository, release.version, build, cache=False)
    return DeliveredModel(image, delivery, release.model.size_limit or package.size_limit)


def runtime_image(stack: StackConfig) -> pulumi.Input[str] | None:
    """The stack's runtime (pinned, or built now and tagged with the stack's name), when any model needs it."""
    if stack.runtime is None or not any(r.model for m in stack.models.values() for _, r in tracks(m)):
        return None
    if stack.runtime.image is not None:
        return stack.runtime.image
    assert stack.runtime.build is not None
    return pushed(stack, "runtime", RUNTIME_REPOSITORY, pulumi.get_stack(), stack.runtime.build)


stack = read_config()
packages = packaged_models(stack)
runtime = runtime_image(stack)

namespace: str | pulumi.Output[str] = stack.namespace
if stack.create_namespace:
    namespace = create_namespace(stack.namespace).metadata.name

models = {}
for name, model in stack.models.items():
    service = ModelService(
        name,
        ModelServiceArgs(
            config=model,
            namespace=namespace,
            image=deployed_image(stack, runtime, name, STABLE, model),
            canary_image=deployed_image(stack, runtime, name, CANARY, model.canary) if model.canary else None,
            model=delivered_model(stack, packages, name, STABLE, model),
            canary_model=delivered_model(stack, packages, name, CANARY, model.canary) if model.canary else None,
            secret_env={env: stack.secret(key) for env, key in model.secret_env.items()},
            production=stack.production,
            image_pull_secrets=stack.image_pull_secrets,
        ),
    )
    models[name] = {
        "image": service.image,
        "version": model.version,
        "service": service.service_name,
        "endpoint": service.endpoint,
    }
    if service.model_image is not None:
        models[name]["modelImage"] = service.model_image
    if service.canary is not None:
        models[name]["canary"] = service.canary

pulumi.export("namespace", namespace)
pulumi.export("models", models)
