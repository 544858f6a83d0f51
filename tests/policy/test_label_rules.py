"""The recommended app.kubernetes.io/* labels."""

import pytest

from policy import PolicyContext, evaluate
from tests.policy import manifests as m

PROD = PolicyContext(environment="production")


def fields(objects):
    return [v.field for v in evaluate(objects, PROD) if v.rule == "recommended-labels"]


def test_labelled_objects_pass():
    assert fields(m.stack()) == []


@pytest.mark.parametrize(
    "label",
    [
        "app.kubernetes.io/name",
        "app.kubernetes.io/instance",
        "app.kubernetes.io/version",
        "app.kubernetes.io/managed-by",
    ],
)
def test_missing_recommended_label_is_rejected(label):
    service = m.service()
    del service["metadata"]["labels"][label]
    assert fields([service]) == [f"metadata.labels[{label}]"]


def test_pod_template_needs_the_labels_too():
    deployment = m.deployment()
    del deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"]
    assert fields([deployment]) == ["spec.template.metadata.labels[app.kubernetes.io/version]"]


def test_namespace_needs_only_managed_by():
    namespace = m.namespace()
    assert fields([namespace]) == []
    namespace["metadata"]["labels"] = {}
    assert fields([namespace]) == ["metadata.labels[app.kubernetes.io/managed-by]"]
