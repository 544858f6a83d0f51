"""Run checkov's Kubernetes checks over the files of rendered objects and parse its JSON report.

checkov lives in its own virtualenv (``.venv-checkov``, made by ``make .venv-checkov/.installed``)
because it pins packaging==23.2, which breaks pulumi; it is called as a subprocess, offline, and started
before the render has its files (`Scan`), so that its long start-up runs beside the render's own work.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

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


def scan_arguments(files: list[Path] | list[str]) -> list[str]:
    """checkov's arguments for a scan of exactly these files with the Kubernetes framework, offline, as JSON."""
    files_args = [arg for path in files for arg in ("--file", str(path))]
    return [*files_args, "--framework", "kubernetes", "--skip-download", "--compact", "--output", "json"]


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
    scan = Scan()
    try:
        scan.start(files)
        return scan.result()
    finally:
        scan.close()


# The two lines of checkov's console script, with its command line read from stdin, so that its interpreter can
# import checkov before the files to scan exist. argv[1] is the script's path, checkov's own sys.argv[0].
# gc.freeze(): the garbage collector stops re-walking the ~2.5 s of imported modules during the scan and at exit;
# a 50-model scan then takes 1.6 s instead of 3.6 s from the moment it has its files (the report is the same).
# logging.disable: checkov formats every INFO and DEBUG record (about 10,000 in a 50-model scan) into an in-memory
# log that only its `--support` upload reads, while stderr shows WARNING and up; dropping them saves about 0.15 s
# of the scan. A LOG_LEVEL set in the environment (checkov's own switch, for debugging it) keeps them.
_DRIVER = """
import gc, logging, os, sys, warnings
from checkov.main import Checkov
gc.freeze()
if not os.environ.get("LOG_LEVEL"):
    logging.disable(logging.INFO)
sys.argv[:] = [sys.argv[1], *sys.stdin.read().split("\\0")]
with warnings.catch_warnings():
    warnings.simplefilter("ignore", category=SyntaxWarning)
    sys.exit(Checkov(sys.argv[1:]).run())
"""


class Scan:
    """One checkov run over a render's files, started before the files exist.

    checkov spends about 2.5 s importing itself before it reads a file (2 cores, quiet): most of a 1-model scan
    (2.8 s), half of a 50-model one (5 s). `Scan()` starts checkov's interpreter on that import at once, so it
    overlaps the render's own work; `start(files)` hands it the command line; `result()` waits for the report.
    A checkov that is not a Python console script is simply run by `start`. `close()` stops one still running.
    """

    def __init__(self) -> None:
        # Files, not pipes: a 50-model report is 7 MB, and checkov must not wait for a reader to finish it.
        self._stdout = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self._process: subprocess.Popen[bytes] | None = None
        interpreter = _console_script_interpreter() if available() else None
        if interpreter:
            self._process = subprocess.Popen(
                [*interpreter, "-c", _DRIVER, str(CHECKOV)],
                stdin=subprocess.PIPE,
                stdout=self._stdout,
                stderr=self._stderr,
            )

    def start(self, files: list[Path] | list[str]) -> None:
        """Scan exactly these files with the Kubernetes framework, offline."""
        command = scan_arguments(files)
        if self._process is None:
            if not available():
                return  # result() says so
            self._process = subprocess.Popen(
                [str(CHECKOV), *command], stdin=subprocess.DEVNULL, stdout=self._stdout, stderr=self._stderr
            )
            return
        assert self._process.stdin is not None
        try:
            self._process.stdin.write("\0".join(command).encode())
            self._process.stdin.close()
        except BrokenPipeError:
            pass  # it stopped while it imported; result() reports its exit code and last words

    def result(self) -> ScanResult:
        """Wait for checkov and parse its report."""
        if self._process is None:
            raise CheckovUnavailable(f"checkov not found at {CHECKOV} (run `make .venv-checkov/.installed`)")
        returncode = self._process.wait()
        # Exit code 1 only means "some check failed"; the report says which.
        if returncode not in (0, 1):
            detail = (_text(self._stderr).strip().splitlines() or ["no output"])[-1]
            raise CheckovUnavailable(f"checkov exited {returncode}: {detail}")
        return parse_report(_text(self._stdout))

    def close(self) -> None:
        """Stop checkov if it is still running (the render ended early), and drop its output."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._stdout.close()
        self._stderr.close()


def _console_script_interpreter() -> list[str] | None:
    """The `#!` command of CHECKOV when it is pip's console script for checkov, else None."""
    try:
        with CHECKOV.open("rb") as script:
            head = script.read(1024)
    except OSError:
        return None
    first, _, body = head.partition(b"\n")
    if not first.startswith(b"#!") or b"from checkov.main import Checkov" not in body:
        return None
    return shlex.split(first[2:].decode()) or None


def _text(output: IO[bytes]) -> str:
    """What checkov wrote to ``output``, decoded as `subprocess.run(text=True)` decodes it."""
    output.seek(0)
    text = io.TextIOWrapper(output)
    try:
        return text.read()
    finally:
        text.detach()  # the file stays open: close() closes it
