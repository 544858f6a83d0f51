"""The ml-platform program: read the stack config once, then for each model an image (when built) and a service."""

import pulumi
from pulumi.runtime import config as runtime_config

from components.config import PROJECT, ConfigError, parse_stack_config, raw_project_config
from components.model_image import ModelImage, ModelImageArgs
from components.model_service import ModelService, ModelServiceArgs
from components.namespace import create_namespace


def read_config():
    """All `ml-platform:*` values the language host passed (PULUMI_CONFIG), parsed; exits cleanly on bad config."""
    engine = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret_keys = set(runtime_config.get_config_secret_keys_env())
    secret_keys |= {key for key in engine if runtime_config.is_config_secret(key)}
    prefix = f"{PROJECT}:"
    try:
        return parse_stack_config(
            raw_project_config(engine),
            stack_file=f"Pulumi.{pulumi.get_stack()}.yaml",
            secret_keys={key[len(prefix) :] for key in secret_keys if key.startswith(prefix)},
        )
    except ConfigError as error:
        # RunError: the CLI prints the message alone, no traceback, and exits non-zero; nothing was registered.
        raise pulumi.RunError("\n".join(error.problems)) from None


stack = read_config()

namespace = stack.namespace
if stack.create_namespace:
    namespace = create_namespace(stack.namespace).metadata.name

models = {}
for name, model in stack.models.items():
    images = {}
    for track, release in (("stable", model), ("canary", model.canary)):
        if release is None:
            continue
        if release.build is None:
            images[track] = release.image
            continue
        repository_name = name if track == "stable" else f"{name}-canary"
        images[track] = ModelImage(
            repository_name,
            ModelImageArgs(
                repository=name,
                tag=release.version,
                build=release.build,
                registry=stack.registry,
                registry_password=stack.registry_password,
            ),
        ).image_ref

    service = ModelService(
        name,
        ModelServiceArgs(
            config=model,
            namespace=namespace,
            image=images["stable"],
            canary_image=images.get("canary"),
            secret_env={env: stack.secret(key) for env, key in model.secret_env.items()},
            production=stack.production,
            image_pull_secrets=stack.image_pull_secrets,
        ),
    )
    exported = {"image": service.image, "version": model.version, "service": service.service_name, "endpoint": service.endpoint}
    if service.canary is not None:
        exported["canary"] = service.canary
    models[name] = exported

pulumi.export("namespace", namespace)
pulumi.export("models", models)
