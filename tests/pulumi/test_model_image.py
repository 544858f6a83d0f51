"""`ModelImage` alone under Pulumi mocks: what it asks docker-build to build and push, and what it exposes."""

from __future__ import annotations

from pulumi.runtime import rpc

from components.config import BuildConfig, RegistryConfig
from components.model_image import TYPE_TOKEN, ModelImage, ModelImageArgs
from tests.pulumi.engine import one, register
from tools.stack_run import ROOT, build_context_digest

IMAGE = "docker-build:index:Image"


def image(build: BuildConfig, registry: RegistryConfig, password=None, builder=None):
    def create():
        component = ModelImage(
            "breast-cancer",
            ModelImageArgs(
                repository="breast-cancer",
                tag="1.0.0",
                build=build,
                registry=registry,
                registry_password=password,
                builder=builder,
            ),
        )
        return component.image_ref

    return register(create)


def test_it_builds_the_context_and_pushes_under_the_version_tag():
    registered, _ = image(BuildConfig(context="./model"), RegistryConfig(server="localhost:5001"))
    inputs = one(registered, IMAGE)
    assert inputs["tags"] == ["localhost:5001/breast-cancer:1.0.0"]
    assert inputs["push"] is True
    assert inputs["context"] == {"location": "./model"}
    # The Dockerfile defaults to <context>/Dockerfile; platforms to the builder's.
    assert "dockerfile" not in inputs and "platforms" not in inputs


def test_build_options_are_passed_through():
    build = BuildConfig(
        context="./model", dockerfile="./model/Dockerfile.gpu", platform="linux/amd64", args={"X": "1"}, target="serve"
    )
    registered, _ = image(build, RegistryConfig(server="localhost:5001"))
    inputs = one(registered, IMAGE)
    assert inputs["dockerfile"] == {"location": "./model/Dockerfile.gpu"}
    assert inputs["platforms"] == ["linux/amd64"]
    assert inputs["buildArgs"] == {"X": "1"}
    assert inputs["target"] == "serve"


def test_a_preview_does_not_build():
    registered, _ = image(BuildConfig(context="./model"), RegistryConfig(server="localhost:5001"))
    assert one(registered, IMAGE)["buildOnPreview"] is False


def test_the_build_cache_is_every_stage_in_the_registry_beside_the_image():
    registered, _ = image(BuildConfig(context="./model"), RegistryConfig(server="localhost:5001"))
    inputs = one(registered, IMAGE)
    cache = "localhost:5001/breast-cancer:buildcache"
    assert [entry["registry"]["ref"] for entry in inputs["cacheFrom"]] == [cache]
    (cache_to,) = inputs["cacheTo"]
    assert cache_to["registry"]["ref"] == cache
    assert cache_to["registry"]["mode"] == "max"
    assert cache_to["registry"]["ignoreError"] is True


def test_image_ref_is_the_pushed_digest_pinned_reference():
    registered, ref = image(BuildConfig(context="./model"), RegistryConfig(server="localhost:5001"))
    # The offline engine stands in for the push with a digest of the build context.
    digest = build_context_digest(ROOT / "model", one(registered, IMAGE))
    assert ref == f"localhost:5001/breast-cancer@sha256:{digest}"


def test_a_local_registry_needs_no_credentials():
    registered, _ = image(BuildConfig(context="./model"), RegistryConfig(server="localhost:5001"))
    assert "registries" not in one(registered, IMAGE)


def test_registry_credentials_are_passed_with_the_password_as_a_secret():
    registered, _ = image(
        BuildConfig(context="./model"), RegistryConfig(server="ghcr.io/acme", username="ci"), password="hunter2"
    )
    registries = one(registered, IMAGE)["registries"]
    # A secret inside makes the whole list secret for the engine.
    assert rpc.is_rpc_secret(registries)
    # Docker logs in to the registry host; the path is part of the image name only.
    assert registries["value"] == [{"address": "ghcr.io", "username": "ci", "password": "hunter2"}]
    assert one(registered, IMAGE)["tags"] == ["ghcr.io/acme/breast-cancer:1.0.0"]


def test_the_image_is_a_child_of_the_component():
    registered, _ = image(BuildConfig(context="./model"), RegistryConfig(server="localhost:5001"))
    (docker_image,) = [r for r in registered if r.type == IMAGE]
    assert docker_image.parent.endswith(f"{TYPE_TOKEN}::breast-cancer")


def test_the_ca_file_is_passed_as_the_build_secret_ca_and_stays_secret(tmp_path):
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    (tmp_path / "ca.pem").write_text(pem)
    registered, _ = image(
        BuildConfig(context="./model", ca_file=str(tmp_path / "ca.pem")), RegistryConfig(server="localhost:5001")
    )
    secrets = one(registered, IMAGE)["secrets"]
    assert rpc.is_rpc_secret(secrets)
    assert secrets["value"] == {"ca": pem}
    # Another host's bundle (or an updated one) alone does not rebuild the image.
    assert one(registered, IMAGE)["ignoreSecretsInDiffCalculation"] == ["ca"]


def test_without_a_ca_file_the_build_gets_no_secrets():
    registered, _ = image(BuildConfig(context="./model"), RegistryConfig(server="localhost:5001"))
    assert "secrets" not in one(registered, IMAGE)
    assert "ignoreSecretsInDiffCalculation" not in one(registered, IMAGE)


def test_the_named_builder_is_used():
    registered, _ = image(
        BuildConfig(context="./model"), RegistryConfig(server="localhost:5001"), builder="ml-platform"
    )
    assert one(registered, IMAGE)["builder"] == {"name": "ml-platform"}


def test_without_a_builder_docker_build_chooses_its_default():
    registered, _ = image(BuildConfig(context="./model"), RegistryConfig(server="localhost:5001"))
    assert "builder" not in one(registered, IMAGE)


def test_an_empty_digest_in_a_preview_is_unknown_not_a_reference_without_digest(monkeypatch):
    # docker-build leaves the digest empty, not unknown, when a preview skips the build of a changed image.
    import pulumi
    from pulumi.output import UNKNOWN

    from components.model_image import pinned

    monkeypatch.setattr(pulumi.runtime, "is_dry_run", lambda: True)
    assert pinned("127.0.0.1:5000/models/iris", "") is UNKNOWN
    digest = "sha256:" + "a" * 64
    assert pinned("127.0.0.1:5000/models/iris", digest) == f"127.0.0.1:5000/models/iris@{digest}"
    # An update never hides a missing digest: the reference stays incomplete, and the policy pack names it.
    monkeypatch.setattr(pulumi.runtime, "is_dry_run", lambda: False)
    assert pinned("127.0.0.1:5000/models/iris", "") == "127.0.0.1:5000/models/iris@"
