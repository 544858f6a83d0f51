"""Builds the model server image from model/Dockerfile with BuildKit: the one place that knows the build command.

`make image` calls this module; the end-to-end test imports it. Usage:

    python -m tools.docker.build --tag TAG [--base-image IMAGE] [--ca-file PEM] [--version V]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = REPO_ROOT / "model"
# Debian's client drives BuildKit through the daemon; a newer client without the buildx plugin refuses to.
DEBIAN_DOCKER_CLIENT = "/usr/bin/docker"


class BuildError(Exception):
    """The build could not start or failed; the message says why, in one line."""


@dataclass(frozen=True)
class ImageBuild:
    """Everything one build of the model server image depends on."""

    tag: str
    base_image: str | None = None  # None: the Dockerfile's default (python:3.11-slim-bookworm)
    ca_file: Path | None = None  # extra CA certificates for pip, passed as the BuildKit secret `ca`
    version: str = "0.0.0-dev"
    revision: str = "unknown"
    created: str = "unknown"
    context: Path = MODEL_DIR
    extra_args: tuple[str, ...] = field(default_factory=tuple)


def docker_client() -> str:
    """The Docker client to use: $DOCKER, else Debian's /usr/bin/docker when present, else `docker` on PATH."""
    if os.environ.get("DOCKER"):
        return os.environ["DOCKER"]
    if Path(DEBIAN_DOCKER_CLIENT).exists():
        return DEBIAN_DOCKER_CLIENT
    return "docker"


def build_command(build: ImageBuild, docker: str, iidfile: Path) -> list[str]:
    """The `docker build` argument list for `build`; the image ID is written to `iidfile`."""
    command = [docker, "build", "--tag", build.tag, "--iidfile", str(iidfile)]
    if build.base_image:
        command += ["--build-arg", f"BASE_IMAGE={build.base_image}"]
    if build.ca_file:
        command += ["--secret", f"id=ca,src={build.ca_file}"]
    for name, value in (("VERSION", build.version), ("REVISION", build.revision), ("CREATED", build.created)):
        command += ["--build-arg", f"{name}={value}"]
    command += [*build.extra_args, str(build.context)]
    return command


def build_image(build: ImageBuild, docker: str | None = None, quiet: bool = False) -> str:
    """Builds the image and returns its ID (sha256:...). Raises BuildError with the reason when it fails."""
    docker = docker or docker_client()
    if shutil.which(docker) is None:
        raise BuildError(f"no Docker client found at {docker!r} (set DOCKER to the client's path)")
    if build.ca_file and not build.ca_file.is_file():
        raise BuildError(f"--ca-file: {build.ca_file} is not a readable file")
    with tempfile.TemporaryDirectory() as tmp:
        iidfile = Path(tmp) / "iid"
        env = {**os.environ, "DOCKER_BUILDKIT": "1"}  # secrets and RUN --mount need BuildKit
        result = subprocess.run(
            build_command(build, docker, iidfile),
            env=env,
            stdout=subprocess.PIPE if quiet else None,
            stderr=subprocess.STDOUT if quiet else None,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            tail = "\n".join((result.stdout or "").splitlines()[-25:])
            raise BuildError(f"docker build failed with exit code {result.returncode}\n{tail}".rstrip())
        return iidfile.read_text().strip()


class GitMetadata(TypedDict, total=False):
    """The OCI label values git can tell (`ImageBuild` fields); a key is absent when git could not say."""

    version: str
    revision: str
    created: str


def git_metadata(repo: Path = REPO_ROOT) -> GitMetadata:
    """Version, revision and commit time from git, for the OCI labels; empty when this is not a git checkout (or
    there is no git at all: the Dockerfile's defaults then stand)."""

    def git(*args: str) -> str:
        try:
            result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
        except FileNotFoundError:
            return ""
        return result.stdout.strip() if result.returncode == 0 else ""

    metadata: GitMetadata = {}
    if version := git("describe", "--tags", "--always", "--dirty"):
        metadata["version"] = version
    if revision := git("rev-parse", "HEAD"):
        metadata["revision"] = revision
    # The commit's time, not the build's: the same commit gives the same labels (and layer cache hits).
    if created := git("log", "-1", "--format=%cI"):
        metadata["created"] = created
    return metadata


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.docker.build", description=__doc__.splitlines()[0])
    parser.add_argument("--tag", required=True, help="image tag, e.g. ml-platform/model-server:dev")
    parser.add_argument("--base-image", help="BASE_IMAGE build argument (default: the Dockerfile's)")
    parser.add_argument("--ca-file", type=Path, help="PEM file of extra CA certificates trusted by pip in the build")
    parser.add_argument("--version", help="org.opencontainers.image.version (default: git describe)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    metadata = git_metadata()
    if args.version:
        metadata["version"] = args.version
    build = ImageBuild(tag=args.tag, base_image=args.base_image, ca_file=args.ca_file, **metadata)
    try:
        image_id = build_image(build)
    except BuildError as error:
        print(f"make image: {error}", file=sys.stderr)
        return 1
    print(f"built {args.tag} ({image_id})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
