"""The ml-platform program: read the stack config once, then for each model an image (when built) and a service."""

from pathlib import Path

import pulumi
from pulumi.runtime import config as runtime_config

from components.config import Canary, ConfigError, ModelConfig, StackConfig, parse_engine_config
from components.labels import workload_name
from components.model_image import ModelImage, ModelImageArgs
from components.model_service import ModelService, ModelServiceArgs
from components.namespace import create_namespace
from conventions import CANARY, PROJECT, STABLE


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


def deployed_image(stack: StackConfig, model: str, track: str, release: ModelConfig | Canary) -> pulumi.Input[str]:
    """The digest-pinned reference to deploy: the configured `image`, or the digest of a `build` pushed now."""
    # The stack config holds exactly one of `build` and `image`, and refuses a build without a registry.
    if release.build is None:
        assert release.image is not None
        return release.image
    assert stack.registry is not None
    image = ModelImage(
        workload_name(model, track),
        ModelImageArgs(
            repository=model,
            tag=release.version,
            build=release.build,
            registry=stack.registry,
            registry_password=stack.registry_password,
            builder=stack.builder,
        ),
    )
    return image.image_ref


stack = read_config()

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
            image=deployed_image(stack, name, STABLE, model),
            canary_image=deployed_image(stack, name, CANARY, model.canary) if model.canary else None,
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
    if service.canary is not None:
        models[name]["canary"] = service.canary

pulumi.export("namespace", namespace)
pulumi.export("models", models)
