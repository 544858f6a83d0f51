"""`ModelImage`: build one model image from source with pulumi-docker, push it, expose its digest.

The digest-pinned reference (`image_ref`, the pushed `repo_digest`) is what a ModelService deploys, and what
`make promote` copies to another stack: the exact bytes tested in dev are the bytes that run in prod.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from components.config import BuildConfig, RegistryConfig

TYPE_TOKEN = "ml-platform:index:ModelImage"


@dataclass
class ModelImageArgs:
    """Typed arguments of a `ModelImage`.

    The image is pushed as `<registry.server>/<repository>:<tag>` (the tag is the model version).
    `registry_password` is a secret Output (the `registryPassword` stack secret), or None for a registry that
    needs no login (a local kind registry) or one the Docker client is already logged in to.
    """

    repository: str
    tag: str
    build: BuildConfig
    registry: RegistryConfig
    registry_password: pulumi.Input[str] | None = None


def image_name(registry: RegistryConfig, repository: str, tag: str) -> str:
    """`<server>/<repository>:<tag>`, the name the image is built and pushed under."""
    return f"{registry.server.rstrip('/')}/{repository}:{tag}"


def registry_host(registry: RegistryConfig) -> str:
    """The host Docker logs in to: `ghcr.io/acme` -> `ghcr.io` (a server may carry a repository path)."""
    return registry.server.split("/", 1)[0]


def docker_build_args(build: BuildConfig) -> docker.DockerBuildArgs:
    """pulumi-docker build settings from the typed build config (BuildKit, for cache mounts and --platform)."""
    return docker.DockerBuildArgs(
        context=build.context,
        dockerfile=build.dockerfile,
        platform=build.platform,
        args=dict(build.args) or None,
        target=build.target,
        builder_version=docker.BuilderVersion.BUILDER_BUILD_KIT,
    )


class ModelImage(pulumi.ComponentResource):
    """One model image, built and pushed. Outputs `image_name` and `image_ref` (`<repo>@sha256:<digest>`)."""

    def __init__(self, name: str, args: ModelImageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE_TOKEN, name, None, opts)
        registry = None
        if args.registry.username is not None:
            registry = docker.RegistryArgs(
                server=registry_host(args.registry),
                username=args.registry.username,
                password=pulumi.Output.secret(args.registry_password) if args.registry_password is not None else None,
            )
        self.image_name = image_name(args.registry, args.repository, args.tag)
        self.image = docker.Image(
            name,
            image_name=self.image_name,
            build=docker_build_args(args.build),
            registry=registry,
            opts=pulumi.ResourceOptions(parent=self),
        )
        # repo_digest is only known once pushed: deploying it pins the exact image, never a moving tag.
        self.image_ref: pulumi.Output[str] = self.image.repo_digest
        self.register_outputs({"imageName": self.image_name, "imageRef": self.image_ref})
