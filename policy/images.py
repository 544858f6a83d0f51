"""Image references: never `:latest` or untagged, and pinned by digest outside development. An image volume's
reference (`volumes[].image.reference`, a model image mounted into the pod) is an image like a container's."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from conventions import parse_image_reference
from policy.violation import PolicyContext, Violation, object_ref
from policy.workloads import containers, pod_template_of

IMAGE_TAG = "image-tag"
IMAGE_DIGEST = "image-digest"


def _images(obj: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    template = pod_template_of(obj)
    if template is None:
        return
    for container in containers(template):
        yield f"{container.path}.image", container.spec.get("image")
    for index, volume in enumerate(template.spec.get("volumes") or []):
        if isinstance(volume.get("image"), dict):
            yield f"{template.path}.volumes[{index}].image.reference", volume["image"].get("reference")


def check_image_tag(obj: Mapping[str, Any], context: PolicyContext) -> Iterator[Violation]:
    """No image floats: `:latest` and untagged references (which mean `:latest`) are refused,
    unless a digest pins them anyway."""
    for field, image in _images(obj):
        if not isinstance(image, str) or not image:
            yield Violation(IMAGE_TAG, object_ref(obj), field, "must be set")
            continue
        reference = parse_image_reference(image)
        if reference.is_pinned:
            continue
        if reference.tag is None:
            yield Violation(IMAGE_TAG, object_ref(obj), field, f"{image} has no tag (it would pull :latest)")
        elif reference.tag == "latest":
            yield Violation(IMAGE_TAG, object_ref(obj), field, f"{image} uses the :latest tag")


def check_image_digest(obj: Mapping[str, Any], context: PolicyContext) -> Iterator[Violation]:
    """Outside development every image is pinned by a sha256 digest, so what was tested is what runs."""
    if context.is_development:
        return
    for field, image in _images(obj):
        if isinstance(image, str) and image and not parse_image_reference(image).is_pinned:
            yield Violation(IMAGE_DIGEST, object_ref(obj), field, f"not pinned by digest ({image})")
