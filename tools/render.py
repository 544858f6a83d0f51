"""Render a stack offline: run the real program under mocks, write its Kubernetes objects, check them.

    python -m tools.render --stack dev [--out build/dev] [--skip-checkov] [--project-dir .]

Writes one YAML file per object under OUT (stable names: `<kind>-<name>.yaml`) and `OUT/outputs.json` exactly
as `pulumi stack output --json` prints it; prints a summary table; then validates every object strictly for
each supported Kubernetes version, applies the policy rules and runs checkov. Exit codes: 0 all good, 1 an
invalid config or object (one line per problem on stderr), 2 bad command-line arguments.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import policy
from components.config import ConfigError, StackConfig
from tools import checkov_scan, stack_run, validate
from tools.render_output import apply_order, mask_secrets, write_render
from tools.summary_table import format_table, summary_rows


class UsageError(Exception):
    """Bad command-line arguments: exit 2."""


class RenderFailed(Exception):
    """The stack's config or objects are invalid: exit 1, one line per problem."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Rendered:
    """One stack rendered offline: its parsed config, its objects (secrets masked) and its outputs."""

    stack: str
    config: StackConfig
    objects: list[dict[str, Any]]
    outputs: dict[str, Any]


def render_stack(stack: str, *, project_dir: Path = stack_run.ROOT) -> Rendered:
    """Run the program for ``stack`` offline. Raises UsageError (no such stack) or RenderFailed (bad config)."""
    if not stack_run.stack_file(stack, project_dir).is_file():
        stacks = ", ".join(stack_run.available_stacks(project_dir)) or "none"
        raise UsageError(f"unknown stack {stack!r}: no Pulumi.{stack}.yaml in {project_dir} (stacks here: {stacks})")
    try:
        config = load_config(stack, project_dir)
        run = stack_run.run_stack(stack, project_dir=project_dir)
    except stack_run.StackFileError as error:  # there, but not a stack file: a config problem
        raise RenderFailed([str(error)]) from None
    except (stack_run.ProgramError, ConfigError) as error:
        raise RenderFailed(error.problems) from None
    # The engine registers resources concurrently: sort, so files, tables and diffs are the same every run.
    objects = sorted((mask_secrets(obj) for obj in run.manifests()), key=apply_order)
    return Rendered(stack=stack, config=config, objects=objects, outputs=run.outputs)


def load_config(stack: str, project_dir: Path = stack_run.ROOT) -> StackConfig:
    """The typed `StackConfig` of ``stack``, parsed by the program's own parser (secret values stood in for)."""
    return stack_run.parse_config(
        stack_run.load_stack_config(stack, project_dir),
        stack_file=stack_run.stack_file(stack, project_dir).name,
        project=stack_run.project_name(project_dir),
    )


@dataclass(frozen=True)
class CheckReport:
    """The problems found, one line each, and what was checked (for the closing line)."""

    problems: list[str]
    checked: list[str]


def check(
    rendered: Rendered, files: list[Path] | None, *, run_checkov: bool = True, scan: checkov_scan.Scan | None = None
) -> CheckReport:
    """Every problem with the rendered objects: schema, policy, then checkov (on the written files).

    checkov runs in its own process while the schema and the policy are checked here; ``scan``, when given, is
    one started before the program ran (see `main`). Its problems are still listed last.
    """
    checkov = None
    if run_checkov and files:
        checkov = scan or checkov_scan.Scan()
        checkov.start(files)
    try:
        return _check_all(rendered, checkov)
    finally:
        if checkov is not None and checkov is not scan:
            checkov.close()


def _check_all(rendered: Rendered, checkov: checkov_scan.Scan | None) -> CheckReport:
    versions = validate.supported_versions()
    problems = [f"schema: {problem}" for problem in validate.validate_objects(rendered.objects, versions)]
    checked = [f"schema (Kubernetes {validate.version_span(versions)}, strict)"]
    context = policy.PolicyContext(
        environment=rendered.config.environment, allow_load_balancer=rendered.config.allow_load_balancer
    )
    problems += [f"policy: {violation}" for violation in policy.evaluate(rendered.objects, context)]
    checked.append(f"policy ({context.environment})")
    if checkov is not None:
        try:
            result = checkov.result()
        except checkov_scan.CheckovUnavailable as error:
            problems.append(f"checkov: {error}")
        else:
            problems += [f"checkov: {finding}" for finding in result.failed]
            problems += [f"checkov: could not parse {path}" for path in result.parsing_errors]
            checked.append(
                f"checkov ({result.passed} passed, {len(result.failed)} failed, "
                f"{len(result.skipped)} skipped by annotation)"
            )
    return CheckReport(problems=problems, checked=checked)


class UsageParser(argparse.ArgumentParser):
    """argparse, but a usage mistake raises UsageError (one line on stderr and exit 2, from the caller)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = UsageParser(prog="python -m tools.render", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, help="stack name: renders Pulumi.<stack>.yaml")
    parser.add_argument("--out", type=Path, help="output directory (default: build/<stack>)")
    parser.add_argument("--skip-checkov", action="store_true", help="do not run checkov (schema and policy still run)")
    parser.add_argument(
        "--project-dir", type=Path, default=stack_run.ROOT, help="the Pulumi project (default: this repo)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    scan: checkov_scan.Scan | None = None
    try:
        args = _arguments(argv)
        # Started first, checkov imports itself (~2.5 s) while the program runs; see checkov_scan.Scan.
        scan = None if args.skip_checkov else checkov_scan.Scan()
        rendered = render_stack(args.stack, project_dir=args.project_dir)
        out = args.out or Path("build") / args.stack
        try:
            files = write_render(rendered.objects, rendered.outputs, out)
        except OSError as error:
            raise UsageError(f"cannot write to --out {out}: {error.strerror or error}") from None
        print(format_table(summary_rows(rendered.objects)))
        report = check(rendered, files, run_checkov=not args.skip_checkov, scan=scan)
    except UsageError as error:
        print(f"render: {error}", file=sys.stderr)
        return 2
    except RenderFailed as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return 1
    finally:
        if scan is not None:
            scan.close()  # stops a checkov the render never needed (a bad stack file, say)
    sys.stdout.flush()  # the table first, then the problems, when both go to one terminal or log
    for problem in report.problems:
        print(problem, file=sys.stderr)
    status = f"{len(report.problems)} problem(s)" if report.problems else "valid"
    print(f"render: {args.stack}: {len(files)} objects written to {out}; {status}: {'; '.join(report.checked)}")
    return 1 if report.problems else 0


def exit_now(status: int) -> NoReturn:
    """End the command at once, its output flushed.

    A normal exit frees the parsed schemas, both validators and the Pulumi SDK's state (185 MB) object by object:
    0.4-1.2 s after a 50-model render at a load of 5 here, for memory the operating system reclaims anyway.
    Everything the render wrote is closed by now, checkov has finished or been stopped, the SDK's worker threads
    have ended, and the only exit handler registered (logging's) has no log handler to flush.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    exit_now(main())
