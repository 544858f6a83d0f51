"""The checkov runner: its own venv, offline, JSON report parsed into failures and annotated skips."""

import json
import textwrap

import pytest

from tools import checkov_scan

needs_checkov = pytest.mark.skipif(
    not checkov_scan.available(),
    reason="checkov is not installed (make .venv-checkov/.installed; `make test` builds it)",
)

BARE_POD = textwrap.dedent(
    """\
    apiVersion: v1
    kind: Pod
    metadata:
      name: bare
      namespace: ml-dev
      annotations:
        checkov.io/skip1: CKV_K8S_21=the default namespace is not used; this is a test of skips
    spec:
      containers:
      - name: app
        image: registry/app:1.0
    """
)


def test_report_with_failures_and_skips_is_parsed():
    report = {
        "check_type": "kubernetes",
        "results": {
            "passed_checks": [{"check_id": "CKV_K8S_1"}],
            "failed_checks": [
                {
                    "check_id": "CKV_K8S_12",
                    "check_name": "Memory requests should be set",
                    "resource": "Deployment.ml-dev.breast-cancer",
                    "file_abs_path": "/out/deployment-breast-cancer.yaml",
                }
            ],
            "skipped_checks": [
                {
                    "check_id": "CKV_K8S_43",
                    "check_name": "Image should use digest",
                    "resource": "Deployment.ml-dev.breast-cancer",
                    "file_path": "/deployment-breast-cancer.yaml",
                    "check_result": {"result": "SKIPPED", "suppress_comment": "dev builds"},
                }
            ],
            "parsing_errors": [],
        },
        "summary": {"passed": 1, "failed": 1, "skipped": 1},
    }

    result = checkov_scan.parse_report(json.dumps(report))

    assert not result.ok
    assert result.passed == 1
    [failure] = result.failed
    assert (
        str(failure)
        == "Deployment.ml-dev.breast-cancer (deployment-breast-cancer.yaml): CKV_K8S_12 Memory requests should be set"
    )
    [skip] = result.skipped
    assert (skip.check_id, skip.suppress_reason) == ("CKV_K8S_43", "dev builds")


def test_an_empty_scan_prints_only_a_summary_and_is_ok():
    summary = {"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0, "resource_count": 0}

    result = checkov_scan.parse_report(json.dumps(summary))

    assert result.ok and result.failed == [] and result.passed == 0


def test_output_that_is_not_json_is_an_error():
    with pytest.raises(checkov_scan.CheckovUnavailable):
        checkov_scan.parse_report("Traceback (most recent call last):")


@needs_checkov
def test_checkov_finds_failures_and_honours_skip_annotations(tmp_path):
    pod = tmp_path / "pod-bare.yaml"
    pod.write_text(BARE_POD)

    result = checkov_scan.scan_files([pod])

    failed_ids = {finding.check_id for finding in result.failed}
    assert "CKV_K8S_12" in failed_ids  # no memory request
    assert all(finding.resource == "Pod.ml-dev.bare" for finding in result.failed)
    assert [(s.check_id, s.suppress_reason) for s in result.skipped] == [
        ("CKV_K8S_21", "the default namespace is not used; this is a test of skips")
    ]


@needs_checkov
def test_scan_files_looks_only_at_the_files_given(tmp_path):
    (tmp_path / "pod-bare.yaml").write_text(BARE_POD)
    (tmp_path / "empty.yaml").write_text("")

    result = checkov_scan.scan_files([tmp_path / "empty.yaml"])

    assert result.failed == []
