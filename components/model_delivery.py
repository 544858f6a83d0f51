"""How a model image's artifact reaches the model server in its pod, as pure builders a test can call alone.

Either path ends the same way for the server: the artifact directory, read-only, at `/var/lib/model/model`
(`MODEL_DIR`), which it verifies against manifest.json before it reports ready.

- `imageVolume`: the pod mounts the model image itself (`volumes[].image`, Kubernetes 1.35+ by default, containerd
  2.1+ or CRI-O 1.31+ on the node) read-only at `/var/lib/model`; the image's `/model/` is then `MODEL_DIR`.
- `initContainer`: an emptyDir sized from the model; an init container from the model image runs its static copier
  (`/copy-model`), which copies `/model/` into it; the server mounts the emptyDir read-only. Any Kubernetes.

Every container, the copier included, runs restricted: UID 10001, no privilege escalation, no capabilities, a
read-only root filesystem and the RuntimeDefault seccomp profile.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.config import IMAGE_VOLUME, MODEL_DIR_ENV, Delivery
from components.model_package import ARTIFACT_DIR
from components.security import container_security_context

VOLUME_NAME = "model"
MOUNT_PATH = "/var/lib/model"
# The image's /model/ under the mount: the directory the server reads (MODEL_DIR).
MODEL_DIR = f"{MOUNT_PATH}/{ARTIFACT_DIR}"
COPIER_CONTAINER = "copy-model"
# The copier streams the files through a 1 MiB buffer: a little CPU, little memory. Requests = limits, so the pod
# keeps the Guaranteed QoS class (init containers count too); the pod's own request is the larger of the two.
COPIER_RESOURCES = {"cpu": "100m", "memory": "64Mi"}


@dataclass(frozen=True)
class DeliveredModel:
    """One track's model artifact: the digest-pinned model image, how it reaches the pod, and (init-container
    path) the size limit of the emptyDir it is copied into."""

    image: pulumi.Input[str]
    delivery: Delivery
    size_limit: str


def model_volume(model: DeliveredModel) -> k8s.core.v1.VolumeArgs:
    """The pod volume holding the artifact: the model image itself, or the emptyDir the copier fills."""
    if model.delivery == IMAGE_VOLUME:
        # IfNotPresent: the reference is pinned by digest, so a node's copy is never stale.
        source = k8s.core.v1.ImageVolumeSourceArgs(reference=model.image, pull_policy="IfNotPresent")
        return k8s.core.v1.VolumeArgs(name=VOLUME_NAME, image=source)
    return k8s.core.v1.VolumeArgs(
        name=VOLUME_NAME, empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=model.size_limit)
    )


def server_mount() -> k8s.core.v1.VolumeMountArgs:
    """The server's mount: read-only on both paths (an image volume is read-only anyway)."""
    return k8s.core.v1.VolumeMountArgs(name=VOLUME_NAME, mount_path=MOUNT_PATH, read_only=True)


def server_env() -> list[k8s.core.v1.EnvVarArgs]:
    """Where the server finds the artifact."""
    return [k8s.core.v1.EnvVarArgs(name=MODEL_DIR_ENV, value=MODEL_DIR)]


def init_containers(model: DeliveredModel) -> list[k8s.core.v1.ContainerArgs]:
    """The copier on the init-container path; none for an image volume."""
    if model.delivery == IMAGE_VOLUME:
        return []
    return [
        k8s.core.v1.ContainerArgs(
            name=COPIER_CONTAINER,
            image=model.image,
            image_pull_policy="IfNotPresent",
            # The image's entrypoint is /copy-model; these are its defaults, spelled out for the reader.
            args=[f"/{ARTIFACT_DIR}", MODEL_DIR],
            volume_mounts=[k8s.core.v1.VolumeMountArgs(name=VOLUME_NAME, mount_path=MOUNT_PATH)],
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests=dict(COPIER_RESOURCES), limits=dict(COPIER_RESOURCES)
            ),
            security_context=container_security_context(),
            termination_message_policy="FallbackToLogsOnError",
        )
    ]
