"""`policy.evaluate`: the public entry point render and the tests use."""

from policy import RULES, PolicyContext, Violation, evaluate
from tests.policy import manifests as m


def test_a_compliant_stack_has_no_violations():
    assert evaluate(m.stack(), PolicyContext(environment="production")) == []


def test_violation_names_object_and_field():
    violation = Violation(
        "image-digest",
        "Deployment ml-prod/breast-cancer",
        "spec.template.spec.containers[0].image",
        "not pinned by digest",
    )
    assert (
        str(violation)
        == "Deployment ml-prod/breast-cancer: spec.template.spec.containers[0].image: not pinned by digest"
    )


def test_cluster_scoped_objects_are_named_without_namespace():
    namespace = m.namespace()
    namespace["metadata"]["labels"] = {}
    (violation,) = evaluate([namespace], PolicyContext())
    assert violation.object == "Namespace ml-prod"


def test_rule_names_are_unique():
    names = [rule.name for rule in RULES]
    assert len(names) == len(set(names))


def test_every_rule_reports_under_its_own_name():
    broken = m.stack()
    deployment, service, hpa, pdb = broken[1], broken[2], broken[3], broken[4]
    container = m.container_of(deployment)
    container["image"] = "breast-cancer:latest"
    del container["livenessProbe"], container["resources"]["limits"]
    container["securityContext"]["readOnlyRootFilesystem"] = False
    m.pod_spec_of(deployment)["hostNetwork"] = True
    m.pod_spec_of(deployment)["volumes"] = [{"name": "model", "image": {"reference": m.IMAGE}}]
    container["volumeMounts"] = [{"name": "model", "mountPath": "/var/lib/model"}]
    del service["metadata"]["labels"]["app.kubernetes.io/name"]
    service["spec"]["type"] = "LoadBalancer"
    service["spec"]["selector"] = {"app": "nothing"}
    hpa["spec"]["minReplicas"] = 1
    pdb["spec"] = {"selector": pdb["spec"]["selector"], "maxUnavailable": 0}
    reported = {v.rule for v in evaluate(broken, PolicyContext(environment="production"))}
    assert reported == {rule.name for rule in RULES}
