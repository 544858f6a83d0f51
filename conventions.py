"""The project's shared facts, each defined once: the program, the policy rules, the tools and the tests import them.

- the project name, read from `Pulumi.yaml` (it prefixes every config key: `ml-platform:models`);
- what "production" means: the environments, and the replica floors production demands;
- image references: how one is split into repository, tag and digest, and what "pinned by digest" means;
- the label and selector conventions: the recommended `app.kubernetes.io/*` labels and the track label.

This module imports nothing from the program or the policy, so the policy pack (which runs in its own virtualenv
with only the Pulumi SDKs, and PyYAML through them) can import it too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import yaml

ROOT = Path(__file__).resolve().parent


def project_name(project_dir: Path = ROOT) -> str:
    """The `name` from `<project_dir>/Pulumi.yaml`."""
    with open(project_dir / "Pulumi.yaml", encoding="utf-8") as f:
        name: str = yaml.safe_load(f)["name"]
    return name


# The Pulumi project name, which is also the namespace of the stack config (`<PROJECT>:<key>`).
PROJECT = project_name()

# --- what "production" means --------------------------------------------------------------------------------------

Environment = Literal["development", "production"]
DEVELOPMENT: Environment = "development"
PRODUCTION: Environment = "production"
ENVIRONMENTS: tuple[Environment, ...] = get_args(Environment)

# A production workload runs at least this many pods, so one pod's loss (a node drain, a crash) is not an outage.
PRODUCTION_MIN_REPLICAS = 2


def canary_track_floor(production: bool) -> int:
    """Pods each track keeps at least while a canary runs: two in production, so a node drain never takes a whole
    track away (the model service splits the replicas with this floor; the stack config refuses less room)."""
    return PRODUCTION_MIN_REPLICAS if production else 1


# --- Kubernetes versions ------------------------------------------------------------------------------------------

# The oldest Kubernetes minor version the stacks support (the pods use the preStop `sleep` action); render validates
# every object against each version from here to the newest schema it ships.
OLDEST_SUPPORTED_KUBERNETES = "1.31"
# Image volumes (`volumes[].image`, KEP-4639): alpha in 1.31, beta but off by default in 1.33 and 1.34, beta and on
# by default from 1.35 (kubernetes.io, "Use an Image Volume With a Pod"). Pod Security admission lets `restricted`
# pods use them from 1.33 (kubernetes/kubernetes#130394). The node's runtime must support them too: containerd 2.1
# or newer, CRI-O 1.31 or newer (containerd 1.x cannot mount one).
IMAGE_VOLUME_DEFAULT_ON = "1.35"


def minor_version(version: str) -> tuple[int, int]:
    """ "1.34" -> (1, 34), for comparing Kubernetes minor versions."""
    major, _, minor = version.partition(".")
    return int(major), int(minor)


# --- image references ---------------------------------------------------------------------------------------------

# `<repository>[:<tag>]@sha256:<64 lowercase hex>`: the only reference that names one image forever.
_PINNED = re.compile(r"[^@\s]+@sha256:[a-f0-9]{64}")


@dataclass(frozen=True)
class ImageReference:
    """An image reference split as the container runtime reads it: `repository[:tag][@digest]`."""

    reference: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def is_pinned(self) -> bool:
        """Pinned by a well-formed sha256 digest: the same bytes wherever and whenever it is pulled."""
        return is_pinned_by_digest(self.reference)


def parse_image_reference(reference: str) -> ImageReference:
    """Split `registry:5000/team/model:1.2@sha256:...` into repository, tag and digest.

    The tag is what follows the last colon of the last path component, so a registry port is not a tag.
    """
    name, _, digest = reference.partition("@")
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > last_slash:
        return ImageReference(reference, name[:colon], name[colon + 1 :] or None, digest or None)
    return ImageReference(reference, name, None, digest or None)


def is_pinned_by_digest(image: str) -> bool:
    """True for `<repository>@sha256:<64 lowercase hex>`, the only reference that names one image forever."""
    return _PINNED.fullmatch(image) is not None


# --- labels and selectors -----------------------------------------------------------------------------------------
# The recommended labels: https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/.

NAME_LABEL = "app.kubernetes.io/name"
INSTANCE_LABEL = "app.kubernetes.io/instance"
VERSION_LABEL = "app.kubernetes.io/version"
COMPONENT_LABEL = "app.kubernetes.io/component"
PART_OF_LABEL = "app.kubernetes.io/part-of"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"

PART_OF = PROJECT
COMPONENT = "model-server"
MANAGED_BY = "pulumi"

# Stable and canary pods of one model share the Service but have their own Deployment, HPA and PDB. The key is in
# every Deployment's selector, which is immutable: it stays as written even if the project is renamed.
TRACK_LABEL = "ml-platform/track"
STABLE = "stable"
CANARY = "canary"

# Selectors use only labels that never change for the life of a Deployment (a Deployment's selector is immutable):
# the model name and the track. The version label changes with every release, so it is never part of a selector.
MODEL_SELECTOR_LABELS = (NAME_LABEL, INSTANCE_LABEL)
