"""Image references: no :latest or untagged images; pinned by digest outside development."""

from policy import PolicyContext, evaluate
from tests.policy import manifests as m

DEV = PolicyContext(environment="development")
PROD = PolicyContext(environment="production")


def with_image(image):
    deployment = m.deployment()
    m.container_of(deployment)["image"] = image
    return deployment


def rules_broken(image, context):
    return sorted({v.rule for v in evaluate([with_image(image)], context)})


def test_latest_tag_is_rejected():
    assert rules_broken("registry.example.com/breast-cancer:latest", DEV) == ["image-tag"]


def test_untagged_image_is_rejected():
    violations = evaluate([with_image("localhost:5001/breast-cancer")], DEV)
    assert [(v.rule, v.field) for v in violations] == [("image-tag", "spec.template.spec.containers[0].image")]
    assert "no tag" in violations[0].message


def test_versioned_tag_passes_in_development():
    assert rules_broken("localhost:5001/breast-cancer:1.2.0", DEV) == []


def test_digest_without_tag_passes_the_tag_rule():
    assert rules_broken(f"localhost:5001/breast-cancer@{m.DIGEST}", PROD) == []


def test_latest_pinned_by_digest_is_not_floating():
    assert rules_broken(f"localhost:5001/breast-cancer:latest@{m.DIGEST}", PROD) == []


def test_missing_image_is_rejected():
    deployment = m.deployment()
    del m.container_of(deployment)["image"]
    assert [v.rule for v in evaluate([deployment], DEV)] == ["image-tag"]


def test_prod_images_are_pinned_by_digest():
    assert rules_broken(m.IMAGE, PROD) == []


def test_tag_only_image_is_rejected_in_production():
    violations = [v for v in evaluate([with_image("registry.example.com/breast-cancer:1.2.0")], PROD)]
    assert [v.rule for v in violations] == ["image-digest"]
    assert str(violations[0]) == (
        "Deployment ml-prod/breast-cancer: spec.template.spec.containers[0].image: "
        "not pinned by digest (registry.example.com/breast-cancer:1.2.0)"
    )


def test_malformed_digest_is_not_a_pin():
    assert rules_broken("registry.example.com/breast-cancer:1.2.0@sha256:abc", PROD) == ["image-digest"]


def test_unknown_environment_is_judged_as_production():
    assert rules_broken("registry.example.com/breast-cancer:1.2.0", PolicyContext(environment="staging")) == [
        "image-digest"
    ]


def with_image_volume(reference):
    deployment = m.deployment()
    volume = {"name": "model", "image": {"reference": reference, "pullPolicy": "IfNotPresent"}}
    m.pod_spec_of(deployment).setdefault("volumes", []).append(volume)
    return deployment


def test_a_pinned_image_volume_passes_every_rule_in_production():
    assert evaluate([with_image_volume(f"registry.example.com/models/iris@{m.DIGEST}")], PROD) == []


def test_an_image_volume_reference_is_pinned_by_digest_in_production():
    violations = evaluate([with_image_volume("registry.example.com/models/iris:1.0.0")], PROD)

    assert [(v.rule, v.field) for v in violations] == [
        ("image-digest", "spec.template.spec.volumes[1].image.reference")
    ]


def test_an_image_volume_reference_never_floats():
    violations = evaluate([with_image_volume("registry.example.com/models/iris:latest")], DEV)

    assert [(v.rule, v.field) for v in violations] == [("image-tag", "spec.template.spec.volumes[1].image.reference")]
