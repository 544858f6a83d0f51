"""The local image builder: a buildkitd on a unix socket, a buildx `remote` builder for it, and the local base image.

docker-build (the program's image provider) refuses the Docker daemon's own builder, and its default
`docker-container` builder pulls moby/buildkit from Docker Hub, which this machine cannot reach. So the cluster
brings its own buildkitd (OCI worker, Debian's runc) and registers it with buildx as the builder named
`ml-platform`, which the dev stack's `builder` key names. buildkitd does not see dockerd's images, so the local
Python base image is pushed to the local registry, where the dev stack's BASE_IMAGE build argument points.
Its build cache lives outside the clone, so a fresh clone's first build reuses the layers of the last one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

from tools.cluster.layout import ROOT, Layout, binary
from tools.cluster.processes import ClusterError, running_pid, start, wait_until

BUILDKITD = "buildkitd"
BUILDER_NAME = "ml-platform"
REGISTRY = "127.0.0.1:5000"
LOCAL_BASE = "ml-platform/python-base:3.11-bookworm"
REGISTRY_BASE = f"{REGISTRY}/{LOCAL_BASE}"
# Without these the registry answers 404 for an OCI index or a Docker manifest list.
MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
DOCKER = os.environ.get("DOCKER", "/usr/bin/docker")


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "ml-platform" / "buildkit"


def socket_path(layout: Layout) -> Path:
    return layout.run / "buildkitd.sock"


def _config(layout: Layout) -> Path:
    path = layout.base / "buildkitd.toml"
    path.write_text(
        "# Written by `make cluster` (tools/cluster/builder.py).\n"
        "[worker.oci]\n  enabled = true\n"
        "[worker.containerd]\n  enabled = false\n"
        f'[registry."{REGISTRY}"]\n  http = true\n  insecure = true\n'
    )
    return path


def _registry_answers() -> bool:
    try:
        with urllib.request.urlopen(f"http://{REGISTRY}/v2/", timeout=2):
            return True
    except OSError:
        return False


def _run(argv: list[str], what: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise ClusterError(f"{what} failed: {detail[-1] if detail else f'exit {result.returncode}'}")
    return result.stdout


def start_builder(layout: Layout) -> None:
    """Starts buildkitd (if not running) and points the buildx builder `ml-platform` at it."""
    if not _registry_answers():
        raise ClusterError(f"no image registry answers on {REGISTRY} (start it with `bash .ci/provision`)")
    if shutil.which("runc") is None:
        raise ClusterError("runc is not installed; buildkitd's OCI worker needs it (apt-get install runc)")
    sock = socket_path(layout)
    if running_pid(layout, BUILDKITD) is None:
        sock.unlink(missing_ok=True)
        start(
            layout,
            BUILDKITD,
            [
                str(binary(BUILDKITD)),
                f"--config={_config(layout)}",
                f"--root={cache_dir()}",
                f"--addr=unix://{sock}",
            ],
        )
    wait_until(layout, BUILDKITD, sock.exists, 30.0, "buildkitd's socket")
    buildx = str(binary("docker-buildx"))
    # The builder is recreated each time: a fresh clone's socket lives at another path.
    subprocess.run([buildx, "rm", "--force", BUILDER_NAME], capture_output=True)
    _run([buildx, "create", "--name", BUILDER_NAME, "--driver", "remote", f"unix://{sock}"], "docker buildx create")
    _run([buildx, "inspect", "--bootstrap", BUILDER_NAME], "docker buildx inspect ml-platform")


def push_local_base() -> None:
    """Puts the local Python base image in the registry, building it first (debootstrap) when dockerd lacks it."""
    name, _, tag = LOCAL_BASE.partition(":")
    request = urllib.request.Request(
        f"http://{REGISTRY}/v2/{name}/manifests/{tag}", method="HEAD", headers={"Accept": MANIFEST_TYPES}
    )
    try:
        with urllib.request.urlopen(request, timeout=5):
            return
    except OSError:
        pass
    _run(["bash", str(ROOT / "tools" / "docker" / "base-image.sh"), LOCAL_BASE], "the local base image")
    _run([DOCKER, "tag", LOCAL_BASE, REGISTRY_BASE], "docker tag")
    _run([DOCKER, "push", "--quiet", REGISTRY_BASE], f"docker push {REGISTRY_BASE}")
