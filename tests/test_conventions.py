"""The shared facts: one home each, so the program, the policy and the tools agree on them."""

from pathlib import Path

import pytest
import yaml

import conventions
from conventions import PRODUCTION_MIN_REPLICAS, canary_track_floor, is_pinned_by_digest, parse_image_reference

DIGEST = "sha256:" + "ab" * 32


def test_the_project_name_is_read_from_pulumi_yaml():
    pulumi_yaml = yaml.safe_load((Path(conventions.__file__).parent / "Pulumi.yaml").read_text(encoding="utf-8"))
    assert conventions.PROJECT == pulumi_yaml["name"]
    assert conventions.PART_OF == conventions.PROJECT


def test_a_canary_track_keeps_the_production_floor_in_production():
    assert canary_track_floor(production=True) == PRODUCTION_MIN_REPLICAS == 2
    assert canary_track_floor(production=False) == 1


@pytest.mark.parametrize(
    "reference,expected",
    [
        ("nginx", ("nginx", None, None)),
        ("nginx:1.27", ("nginx", "1.27", None)),
        ("localhost:5001/breast-cancer", ("localhost:5001/breast-cancer", None, None)),
        ("localhost:5001/breast-cancer:1.0", ("localhost:5001/breast-cancer", "1.0", None)),
        (f"localhost:5001/breast-cancer@{DIGEST}", ("localhost:5001/breast-cancer", None, DIGEST)),
        (f"r.io/a/b:2@{DIGEST}", ("r.io/a/b", "2", DIGEST)),
    ],
)
def test_image_references_are_split_like_the_runtime_does(reference, expected):
    parsed = parse_image_reference(reference)
    assert (parsed.repository, parsed.tag, parsed.digest) == expected


@pytest.mark.parametrize(
    "reference,pinned",
    [
        (f"r.io/a/b@{DIGEST}", True),
        (f"r.io/a/b:2@{DIGEST}", True),
        ("r.io/a/b:2", False),
        ("r.io/a/b@sha256:abc", False),
        ("r.io/a/b@sha256:" + "AB" * 32, False),  # digests are lowercase hex
        (f"@{DIGEST}", False),  # no repository
        (f"r.io/a@b@{DIGEST}", False),
        (f"r.io/a b@{DIGEST}", False),
        (f"r.io/a/b@{DIGEST}\n", False),
    ],
)
def test_pinned_means_a_repository_and_a_well_formed_sha256_digest(reference, pinned):
    assert is_pinned_by_digest(reference) is pinned
    assert parse_image_reference(reference).is_pinned is pinned
