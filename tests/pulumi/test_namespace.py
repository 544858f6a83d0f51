"""A namespace the stack creates enforces the Pod Security Standards "restricted" profile."""

from components.namespace import create_namespace
from tests.pulumi.engine import one, register


def test_a_created_namespace_enforces_the_restricted_profile():
    registered, name = register(lambda: create_namespace("ml-dev").metadata.name)
    labels = one(registered, "kubernetes:core/v1:Namespace")["metadata"]["labels"]
    assert name == "ml-dev"
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    assert labels["pod-security.kubernetes.io/audit"] == "restricted"
