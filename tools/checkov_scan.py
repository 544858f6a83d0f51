"""Run checkov's Kubernetes checks over the files of rendered objects and parse its JSON report.

checkov lives in its own virtualenv (``.venv-checkov``, made by ``make .venv-checkov/.installed``)
because it pins packaging==23.2, which breaks pulumi; it is called as a subprocess, offline.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHECKOV = Path(os.environ.get("CHECKOV", ROOT / ".venv-checkov" / "bin" / "checkov"))


class CheckovUnavailable(RuntimeError):
    """checkov is not installed where expected, or did not produce a readable report."""


@dataclass(frozen=True)
class Finding:
    """One checkov check result on one object."""

    check_id: str
    check_name: str
    resource: str  # checkov's name for the object: Kind.namespace.name
    file: str
    suppress_reason: str = ""

    def __str__(self) -> str:
        return f"{self.resource} ({self.file}): {self.check_id} {self.check_name}"


@dataclass(frozen=True)
class ScanResult:
    """What checkov found: failures, annotated skips (with their written reasons), counts."""

    failed: list[Finding]
    skipped: list[Finding]
    passed: int
    parsing_errors: list[str]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.parsing_errors


def available() -> bool:
    """True when the checkov executable is installed."""
    return CHECKOV.is_file() and os.access(CHECKOV, os.X_OK)


def _finding(raw: dict[str, Any]) -> Finding:
    return Finding(
        check_id=raw.get("check_id", "?"),
        check_name=raw.get("check_name", ""),
        resource=raw.get("resource", "?"),
        file=Path(raw.get("file_abs_path") or raw.get("file_path") or "?").name,
        suppress_reason=(raw.get("check_result") or {}).get("suppress_comment") or "",
    )


def parse_report(text: str) -> ScanResult:
    """Parse ``checkov --output json`` for one framework (an empty scan prints only a summary)."""
    try:
        report = json.loads(text)
    except json.JSONDecodeError as error:
        raise CheckovUnavailable(f"checkov printed no JSON report: {error}") from None
    reports = report if isinstance(report, list) else [report]
    failed: list[Finding] = []
    skipped: list[Finding] = []
    passed = 0
    parsing_errors: list[str] = []
    for one in reports:
        results = one.get("results") or {}
        failed += [_finding(raw) for raw in results.get("failed_checks", [])]
        skipped += [_finding(raw) for raw in results.get("skipped_checks", [])]
        passed += len(results.get("passed_checks", []))
        parsing_errors += [str(path) for path in results.get("parsing_errors", [])]
    return ScanResult(failed=failed, skipped=skipped, passed=passed, parsing_errors=parsing_errors)


def scan_files(files: list[Path] | list[str]) -> ScanResult:
    """Scan exactly these YAML files with checkov's Kubernetes framework, offline (not whatever else shares their
    directory: a render's OUT may hold other files)."""
    return _run([arg for path in files for arg in ("--file", str(path))])


def _run(targets: list[str]) -> ScanResult:
    if not available():
        raise CheckovUnavailable(f"checkov not found at {CHECKOV} (run `make .venv-checkov/.installed`)")
    command = [
        str(CHECKOV), *targets, "--framework", "kubernetes", "--skip-download", "--compact", "--output", "json",
    ]
    # Exit code 1 only means "some check failed"; the report says which.
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode not in (0, 1):
        detail = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        raise CheckovUnavailable(f"checkov exited {completed.returncode}: {detail}")
    return parse_report(completed.stdout)
