"""Render a stack offline: run the real program under mocks, write its Kubernetes objects, check them.

    python -m tools.render --stack dev [--out build/dev] [--skip-checkov] [--project-dir .]

Writes one YAML file per object under OUT (stable names: `<kind>-<name>.yaml`) and `OUT/outputs.json` exactly
as `pulumi stack output --json` prints it; prints a summary table; then validates every object strictly for
each supported Kubernetes version, applies the policy rules and runs checkov. Exit codes: 0 all good, 1 an
invalid config or object (one line per problem on stderr), 2 bad command-line arguments.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml

import policy
from components.config import ConfigError, parse_stack_config, raw_project_config
from tools import checkov_scan, stack_run, validate

# Written into a Secret's data/stringData instead of the value: render output is never a place for secrets.
MASK = "[masked by render]"
# Lists the files the last render wrote, so a re-render removes objects that are gone and nothing else.
INDEX_FILE = ".rendered-files"
# Top-level keys in the order `kubectl get -o yaml` shows them; the rest follow alphabetically.
_LEADING_KEYS = ("apiVersion", "kind", "metadata")
_KIND_ORDER = (
    "Namespace", "ServiceAccount", "Secret", "ConfigMap", "Service", "Deployment",
    "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy",
)


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
    config: Any  # components.config.StackConfig
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
    objects = sorted((mask_secrets(whole_numbers(obj)) for obj in run.manifests()), key=apply_order)
    return Rendered(stack=stack, config=config, objects=objects, outputs=whole_numbers(run.outputs))


def load_config(stack: str, project_dir: Path = stack_run.ROOT) -> Any:
    """The typed `StackConfig` of ``stack``, parsed by the program's own parser (secret values stood in for)."""
    raw = stack_run.load_stack_config(stack, project_dir)
    prefix = f"{stack_run.project_name(project_dir)}:"
    secret_keys = {key[len(prefix):] for key, value in raw.items() if key.startswith(prefix) and _is_secure(value)}
    values = {key: stack_run.SECRET_PLACEHOLDER if _is_secure(value) else value for key, value in raw.items()}
    return parse_stack_config(
        raw_project_config(values, prefix[:-1]),
        stack_file=stack_run.stack_file(stack, project_dir).name,
        secret_keys=secret_keys,
    )


def _is_secure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"}


def apply_order(obj: Mapping[str, Any]) -> tuple:
    """Sort key: the order `kubectl apply` would want (namespace first, workloads before their policies)."""
    kind = obj.get("kind", "")
    metadata = obj.get("metadata") or {}
    rank = _KIND_ORDER.index(kind) if kind in _KIND_ORDER else len(_KIND_ORDER)
    return rank, kind, metadata.get("namespace") or "", metadata.get("name") or ""


def whole_numbers(value: Any) -> Any:
    """``value`` with every integral float as an int.

    The engine carries numbers as doubles (protobuf Struct), so `8080` arrives as `8080.0`; the Kubernetes API
    rejects `8080.0` for an int32 field, and `pulumi stack output --json` prints `8080`.
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {key: whole_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [whole_numbers(item) for item in value]
    return value


def mask_secrets(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``obj`` where a Secret's `data` and `stringData` values are replaced by a mask."""
    obj = dict(obj)
    if obj.get("kind") == "Secret":
        masked_bytes = base64.b64encode(MASK.encode()).decode()
        if isinstance(obj.get("data"), Mapping):
            obj["data"] = {key: masked_bytes for key in obj["data"]}
        if isinstance(obj.get("stringData"), Mapping):
            obj["stringData"] = {key: MASK for key in obj["stringData"]}
    return obj


def canonical(obj: Any) -> Any:
    """``obj`` with stable key order: apiVersion, kind, metadata first, then alphabetical at every level."""
    if isinstance(obj, Mapping):
        keys = [k for k in _LEADING_KEYS if k in obj] + sorted(k for k in obj if k not in _LEADING_KEYS)
        return {key: canonical(obj[key]) for key in keys}
    if isinstance(obj, list):
        return [canonical(item) for item in obj]
    return obj


def to_yaml(obj: Mapping[str, Any]) -> str:
    """One object as a YAML document, keys in canonical order."""
    return yaml.safe_dump(canonical(obj), sort_keys=False, default_flow_style=False, allow_unicode=True)


def outputs_json(outputs: Mapping[str, Any]) -> str:
    """The outputs as `pulumi stack output --json` prints them: sorted keys, 2-space indent, newline."""
    return json.dumps(outputs, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def file_names(objects: list[Mapping[str, Any]]) -> list[str]:
    """A stable file name per object: `<kind>-<name>.yaml`, with the namespace when two would clash."""

    def short(obj: Mapping[str, Any]) -> str:
        return f"{obj.get('kind', 'object')}-{(obj.get('metadata') or {}).get('name', 'unnamed')}".lower()

    counts: dict[str, int] = {}
    for obj in objects:
        counts[short(obj)] = counts.get(short(obj), 0) + 1
    names = []
    for index, obj in enumerate(objects):
        name = short(obj)
        if counts[name] > 1:
            namespace = (obj.get("metadata") or {}).get("namespace") or "cluster"
            kind, _, rest = name.partition("-")
            name = f"{kind}-{namespace}-{rest}"
        names.append(name if name not in names else f"{name}-{index}")
    return [f"{name}.yaml" for name in names]


def write_render(rendered: Rendered, out: Path) -> list[Path]:
    """Write each object and outputs.json under ``out``; remove what the previous render wrote there."""
    out.mkdir(parents=True, exist_ok=True)
    index = out / INDEX_FILE
    if index.is_file():
        for old in index.read_text(encoding="utf-8").split():
            (out / Path(old).name).unlink(missing_ok=True)
    paths = []
    for name, obj in zip(file_names(rendered.objects), rendered.objects):
        path = out / name
        path.write_text(to_yaml(obj), encoding="utf-8")
        paths.append(path)
    (out / "outputs.json").write_text(outputs_json(rendered.outputs), encoding="utf-8")
    index.write_text("".join(f"{p.name}\n" for p in paths), encoding="utf-8")
    return paths


def summary_rows(objects: list[Mapping[str, Any]]) -> list[tuple[str, ...]]:
    """One row per Deployment, read from the rendered objects: model, version, image, replicas, cpu, memory.

    Replicas are the bounds of the HPA that scales the Deployment (its `spec.replicas` when none does); a
    second track of a model (a canary) is shown as `model (track)`.
    """
    hpa_bounds = {
        (hpa["metadata"].get("namespace"), hpa["spec"]["scaleTargetRef"]["name"]):
            f"{hpa['spec'].get('minReplicas', 1)}-{hpa['spec']['maxReplicas']}"
        for hpa in objects
        if hpa.get("kind") == "HorizontalPodAutoscaler" and hpa["spec"]["scaleTargetRef"].get("kind") == "Deployment"
    }
    rows = []
    for deployment in (obj for obj in objects if obj.get("kind") == "Deployment"):
        metadata = deployment["metadata"]
        labels = metadata.get("labels") or {}
        model = labels.get("app.kubernetes.io/name", metadata["name"])
        track = labels.get("ml-platform/track")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        requests = (container.get("resources") or {}).get("requests") or {}
        replicas = hpa_bounds.get((metadata.get("namespace"), metadata["name"]), str(deployment["spec"].get("replicas", 1)))
        rows.append((
            f"{model} ({track})" if track and track != "stable" else model,
            labels.get("app.kubernetes.io/version", "?"),
            container.get("image", "?"),
            replicas,
            str(requests.get("cpu", "-")),
            str(requests.get("memory", "-")),
        ))
    return rows


def format_table(rows: Iterable[tuple[str, ...]]) -> str:
    """A plain aligned text table with a header."""
    header = ("MODEL", "VERSION", "IMAGE", "REPLICAS", "CPU", "MEMORY")
    rows = [header, *rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


@dataclass(frozen=True)
class CheckReport:
    """The problems found, one line each, and what was checked (for the closing line)."""

    problems: list[str]
    checked: list[str]


def check(rendered: Rendered, files: list[Path] | None, *, run_checkov: bool = True) -> CheckReport:
    """Every problem with the rendered objects: schema, policy, then checkov (on the written files)."""
    versions = validate.supported_versions()
    problems = [f"schema: {problem}" for problem in validate.validate_objects(rendered.objects, versions)]
    checked = [f"schema (Kubernetes {validate.version_span(versions)}, strict)"]
    context = policy.PolicyContext(
        environment=rendered.config.environment, allow_load_balancer=rendered.config.allow_load_balancer
    )
    problems += [f"policy: {violation}" for violation in policy.evaluate(rendered.objects, context)]
    checked.append(f"policy ({context.environment})")
    if run_checkov and files:
        try:
            result = checkov_scan.scan_files(files)
        except checkov_scan.CheckovUnavailable as error:
            problems.append(f"checkov: {error}")
        else:
            problems += [f"checkov: {finding}" for finding in result.failed]
            problems += [f"checkov: could not parse {path}" for path in result.parsing_errors]
            checked.append(f"checkov ({result.passed} passed, {len(result.failed)} failed, "
                           f"{len(result.skipped)} skipped by annotation)")
    return CheckReport(problems=problems, checked=checked)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr and exit 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = _Parser(prog="python -m tools.render", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, help="stack name: renders Pulumi.<stack>.yaml")
    parser.add_argument("--out", type=Path, help="output directory (default: build/<stack>)")
    parser.add_argument("--skip-checkov", action="store_true", help="do not run checkov (schema and policy still run)")
    parser.add_argument("--project-dir", type=Path, default=stack_run.ROOT, help="the Pulumi project (default: this repo)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    try:
        args = _arguments(argv)
        rendered = render_stack(args.stack, project_dir=args.project_dir)
        out = args.out or Path("build") / args.stack
        try:
            files = write_render(rendered, out)
        except OSError as error:
            raise UsageError(f"cannot write to --out {out}: {error.strerror or error}") from None
        print(format_table(summary_rows(rendered.objects)))
        report = check(rendered, files, run_checkov=not args.skip_checkov)
    except UsageError as error:
        print(f"render: {error}", file=sys.stderr)
        return 2
    except RenderFailed as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return 1
    sys.stdout.flush()  # the table first, then the problems, when both go to one terminal or log
    for problem in report.problems:
        print(problem, file=sys.stderr)
    status = f"{len(report.problems)} problem(s)" if report.problems else "valid"
    print(f"render: {args.stack}: {len(files)} objects written to {out}; {status}: {'; '.join(report.checked)}")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
