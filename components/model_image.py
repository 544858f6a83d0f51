"""`ModelImage`: build one model image from source with docker-build (BuildKit through buildx), push it,
expose its digest.

The digest-pinned reference (`image_ref`, `<repo>@<the pushed digest>`) is what a ModelService deploys, and what
`make promote` copies to another stack: the exact bytes tested in dev are the bytes that run in prod.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pulumi
import pulumi_docker_build as docker_build
from pulumi.output import UNKNOWN

from components.config import BuildConfig, RegistryConfig

TYPE_TOKEN = "ml-platform:index:ModelImage"
# The tag the registry build cache is kept under, beside the model's version tags.
CACHE_TAG = "buildcache"


@dataclass
class ModelImageArgs:
    """Typed arguments of a `ModelImage`.

    The image is pushed as `<registry.server>/<repository>:<tag>` (the tag is the model version).
    `registry_password` is a secret Output (the `registryPassword` stack secret), or None for a registry that
    needs no login (a local registry) or one the Docker client is already logged in to. `builder` names the buildx
    builder to build on (the `builder` stack setting); None leaves the choice to docker-build. `cache: False` skips
    the registry build cache: a model image (two COPY layers FROM scratch) has nothing worth caching, and exporting
    one would cost every model change a second push.
    """

    repository: str
    tag: str
    build: BuildConfig
    registry: RegistryConfig
    registry_password: pulumi.Input[str] | None = None
    builder: str | None = None
    cache: bool = True


def repository_name(registry: RegistryConfig, repository: str) -> str:
    """`<server>/<repository>`, the repository every tag and digest of the image lives in."""
    return f"{registry.server.rstrip('/')}/{repository}"


def image_name(registry: RegistryConfig, repository: str, tag: str) -> str:
    """`<server>/<repository>:<tag>`, the name the image is built and pushed under."""
    return f"{repository_name(registry, repository)}:{tag}"


def registry_host(registry: RegistryConfig) -> str:
    """The host Docker logs in to: `ghcr.io/acme` -> `ghcr.io` (a server may carry a repository path)."""
    return registry.server.split("/", 1)[0]


def registry_cache(
    registry: RegistryConfig, repository: str
) -> tuple[docker_build.CacheFromArgs, docker_build.CacheToArgs]:
    """Import and export of the build cache at `<server>/<repository>:buildcache`, every layer of every stage.

    Registry rather than inline: an inline cache holds the final stage only (mode=min), and the expensive layer, the
    pip install of the locked venv (about 150 MB), is in the build stage. With mode=max, a builder that has never seen
    the context (a new CI runner, a recreated buildkitd) reuses every unchanged layer instead of reinstalling.
    """
    ref = f"{repository_name(registry, repository)}:{CACHE_TAG}"
    return (
        docker_build.CacheFromArgs(registry=docker_build.CacheFromRegistryArgs(ref=ref)),
        # A failed cache export costs the next build time, not this one its image: it must not fail the update.
        docker_build.CacheToArgs(
            registry=docker_build.CacheToRegistryArgs(ref=ref, mode=docker_build.CacheMode.MAX, ignore_error=True)
        ),
    )


def build_secrets(build: BuildConfig) -> dict[str, pulumi.Output[str]] | None:
    """The BuildKit secrets: `ca`, the contents of `build.ca_file` (model/Dockerfile gives it to pip), as a secret.

    The path is relative to the working directory, the project's when Pulumi runs the program (as the context is).
    A secret never lands in a layer; as a Pulumi secret it is encrypted in the state, too.
    """
    if build.ca_file is None:
        return None
    return {"ca": pulumi.Output.secret(Path(build.ca_file).read_text(encoding="utf-8"))}


class ModelImage(pulumi.ComponentResource):
    """One model image, built and pushed. Outputs `image_name` and `image_ref` (`<repo>@sha256:<digest>`)."""

    def __init__(self, name: str, args: ModelImageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE_TOKEN, name, None, opts)
        build = args.build
        registries = None
        if args.registry.username is not None:
            registries = [
                docker_build.RegistryArgs(
                    address=registry_host(args.registry),
                    username=args.registry.username,
                    password=pulumi.Output.secret(args.registry_password)
                    if args.registry_password is not None
                    else None,
                )
            ]
        cache_from, cache_to = registry_cache(args.registry, args.repository)
        self.image_name = image_name(args.registry, args.repository, args.tag)
        # Any buildx platform string goes: the SDK's `Platform` (a str enum) lacks variants such as linux/arm/v7.
        platforms = [cast(docker_build.Platform, build.platform)] if build.platform else None
        self.image = docker_build.Image(
            name,
            tags=[self.image_name],
            push=True,
            context=docker_build.BuildContextArgs(location=build.context),
            dockerfile=docker_build.DockerfileArgs(location=build.dockerfile) if build.dockerfile else None,
            platforms=platforms,
            build_args=dict(build.args) or None,
            target=build.target,
            secrets=build_secrets(build),
            # The CA bundle never reaches a layer and differs from host to host (and with each ca-certificates update):
            # a change of it alone must not show up as a rebuild in every preview.
            ignore_secrets_in_diff_calculation=["ca"] if build.ca_file else None,
            builder=docker_build.BuilderConfigArgs(name=args.builder) if args.builder else None,
            registries=registries,
            cache_from=[cache_from] if args.cache else None,
            cache_to=[cache_to] if args.cache else None,
            # A preview shows the plan without building, as pulumi-docker's did: `pulumi up` builds once, not twice.
            build_on_preview=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        # The digest is only known once pushed; deploying `<repo>@<digest>` pins the exact image, never a moving tag.
        # (docker-build's `ref` output is `<repo>:<tag>@<digest>`: the tag in it would be noise.)
        repository = repository_name(args.registry, args.repository)
        self.image_ref: pulumi.Output[str] = self.image.digest.apply(lambda digest: pinned(repository, digest))
        self.register_outputs({"imageName": self.image_name, "imageRef": self.image_ref})


def pinned(repository: str, digest: str) -> str:
    """`<repository>@<digest>`; unknown in a preview that does not build.

    docker-build reports an empty digest, not an unknown one, when a preview skips the build of a changed image
    (seen with a model image whose file changed under the same tag): `<repository>@` would reach the Deployment's
    diff and fail the policy pack's image rule. Unknown is what the value is until `pulumi up` pushes.
    """
    if not digest and pulumi.runtime.is_dry_run():
        return cast(str, UNKNOWN)
    return f"{repository}@{digest}"
