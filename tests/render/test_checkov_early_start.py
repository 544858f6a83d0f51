"""checkov started before the render's files exist: the same report as a plain run, and no process left behind."""

import json
import subprocess

import pytest

from tools import checkov_scan

from .test_checkov_scan import BARE_POD, needs_checkov


@needs_checkov
def test_a_scan_started_before_its_files_reports_what_checkov_run_directly_reports(tmp_path):
    scan = checkov_scan.Scan()  # checkov imports itself while the file does not exist yet
    pod = tmp_path / "pod-bare.yaml"
    pod.write_text(BARE_POD)
    try:
        scan.start([pod])
        early = scan.result()
    finally:
        scan.close()

    direct = subprocess.run(
        [str(checkov_scan.CHECKOV), *checkov_scan.scan_arguments([pod])],
        capture_output=True,
        text=True,
        check=False,
    )
    assert early == checkov_scan.parse_report(direct.stdout)
    assert early.failed, "the bare pod fails checks, so the comparison means something"


@needs_checkov
def test_closing_a_scan_that_never_got_files_stops_checkov():
    scan = checkov_scan.Scan()
    process = scan._process
    assert process is not None and process.poll() is None

    scan.close()

    assert process.returncode is not None


def test_a_checkov_that_is_not_a_python_console_script_runs_once_the_files_exist(tmp_path, monkeypatch):
    summary = {"passed": 3, "failed": 0, "skipped": 0, "parsing_errors": 0, "resource_count": 1}
    fake = tmp_path / "checkov"
    fake.write_text(f"#!/bin/sh\necho '{json.dumps(summary)}'\n")
    fake.chmod(0o755)
    monkeypatch.setattr(checkov_scan, "CHECKOV", fake)

    result = checkov_scan.scan_files([tmp_path / "any.yaml"])

    assert result.ok and result.passed == 0  # a summary-only report: nothing scanned


def test_a_checkov_that_crashes_is_reported_with_its_last_words(tmp_path, monkeypatch):
    fake = tmp_path / "checkov"
    fake.write_text("#!/bin/sh\necho 'loading' >&2\necho 'boom' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setattr(checkov_scan, "CHECKOV", fake)

    with pytest.raises(checkov_scan.CheckovUnavailable, match=r"^checkov exited 3: boom$"):
        checkov_scan.scan_files([tmp_path / "any.yaml"])
