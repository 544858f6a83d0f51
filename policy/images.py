"""Image references: never `:latest` or untagged, and pinned by digest outside development."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator

from policy.violation import PolicyContext, Violation, describe
from policy.workloads import containers, pod_template

IMAGE_TAG = "image-tag"
IMAGE_DIGEST = "image-digest"

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class ImageReference:
    """An image reference split as the container runtime reads it: `repository[:tag][@digest]`."""

    repository: str
    tag: str | None
    digest: str | None

    @property
    def is_pinned(self) -> bool:
        """Pinned by a well-formed sha256 digest: the same bytes wherever and whenever it is pulled."""
        return self.digest is not None and bool(_DIGEST.match(self.digest))


def parse_image(reference: str) -> ImageReference:
    """Split `registry:5000/team/model:1.2@sha256:...` into repository, tag and digest.

    The tag is what follows the last colon of the last path component, so a registry port is not a tag.
    """
    name, _, digest = reference.partition("@")
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > last_slash:
        return ImageReference(name[:colon], name[colon + 1:] or None, digest or None)
    return ImageReference(name, None, digest or None)


def _images(obj: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    template = pod_template(obj)
    if template is None:
        return
    for container in containers(template):
        yield f"{container.path}.image", container.spec.get("image")


def check_image_tag(obj: dict[str, Any], context: PolicyContext) -> Iterator[Violation]:
    """No image floats: `:latest` and untagged references (which mean `:latest`) are refused,
    unless a digest pins them anyway."""
    for field, image in _images(obj):
        if not isinstance(image, str) or not image:
            yield Violation(IMAGE_TAG, describe(obj), field, "must be set")
            continue
        reference = parse_image(image)
        if reference.is_pinned:
            continue
        if reference.tag is None:
            yield Violation(IMAGE_TAG, describe(obj), field, f"{image} has no tag (it would pull :latest)")
        elif reference.tag == "latest":
            yield Violation(IMAGE_TAG, describe(obj), field, f"{image} uses the :latest tag")


def check_image_digest(obj: dict[str, Any], context: PolicyContext) -> Iterator[Violation]:
    """Outside development every image is pinned by a sha256 digest, so what was tested is what runs."""
    if context.is_development:
        return
    for field, image in _images(obj):
        if isinstance(image, str) and image and not parse_image(image).is_pinned:
            yield Violation(IMAGE_DIGEST, describe(obj), field, f"not pinned by digest ({image})")
