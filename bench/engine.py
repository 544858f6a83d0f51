"""`make bench-engine`: the real Pulumi engine on the local cluster (a kwok node), timed.

Rows: `pulumi up` of dev from nothing, a no-change preview, a version change (each split into the image's
build-and-push step and the rest, the engine's own time), and `pulumi preview` of a 50-model stack through the real
engine beside the offline render (`make render`) of the same stack. A printed table, and build/bench/engine.json
with the date and the machine.

    python -m bench.engine [--models 50] [--skip-render]

The image step's time is the duration the CLI prints for it when it finishes (`created (41s)`).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.report import write_report
from tools.cluster.processes import ClusterError
from tools.cluster.session import ClusterSession
from tools.deploy import pulumi_args
from tools.scratch_project import Project

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "build" / "bench" / "engine.json"
IMAGE_TYPE = "docker-build:index:Image"
MODEL = "breast-cancer"


@dataclass
class Row:
    """One timed operation."""

    operation: str
    total_s: float
    image_s: float | None = None  # the image build and push step, when there is one
    engine_s: float | None = None  # everything else: the program, the engine, the Kubernetes provider's awaits


# The CLI's progress lines end each finished step with its duration: `+  docker-build:index:Image x created (41s)`,
# `(0.51s)`, or `(1m5s)` past a minute.
_STEP = re.compile(rf"{re.escape(IMAGE_TYPE)} \S+ (?:created|updated|replaced)\S* \((?:(\d+)m)?([\d.]+)s\)")


def image_seconds(output: str) -> float | None:
    """The image steps' total duration, from the CLI's progress lines; None when no image was built."""
    found = [int(m.group(1) or 0) * 60 + float(m.group(2)) for m in _STEP.finditer(output)]
    return round(sum(found), 1) if found else None


def timed(project: Project, operation: str, action: str, stack: str, *extra: str) -> Row:
    project.pulumi("stack", "select", "--create", "--non-interactive", stack)
    start = time.monotonic()
    result = project.pulumi(*pulumi_args(action, stack, list(extra), project_dir=project.path))
    total = time.monotonic() - start
    image = image_seconds(result.stdout)
    return Row(operation, round(total, 1), image, round(total - image, 1) if image is not None else None)


def many_models_stack(project: Project, models: int) -> str:
    """A development stack of `models` copies of the model, each deploying dev's pushed images by digest."""
    deployed = project.outputs("dev")["models"][MODEL]

    def edit(config: dict[str, Any]) -> None:
        config["ml-platform:namespace"] = "ml-bench"
        template = dict(config["ml-platform:models"][MODEL])
        template.pop("build", None)
        if "modelImage" in deployed:  # delivered apart from the runtime: pin both, build nothing
            config["ml-platform:runtime"] = {"image": deployed["image"]}
            template["model"] = {"image": deployed["modelImage"]}
        else:
            template["image"] = deployed["image"]
        config["ml-platform:models"] = {f"model-{i:02d}": dict(template) for i in range(models)}

    name = f"bench{models}"
    (project.path / f"Pulumi.{name}.yaml").write_text((project.path / "Pulumi.dev.yaml").read_text())
    project.edit_stack(name, edit)
    return name


def offline_render(project: Project, stack: str) -> Row:
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "tools.render", "--stack", stack, "--out", str(project.path / "build" / stack)],
        cwd=project.path,
        env=project.env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"make render STACK={stack} failed: {result.stderr.strip()[-500:]}")
    return Row("offline render of the same stack (`make render`)", round(time.monotonic() - start, 1))


def run(models: int, skip_render: bool) -> list[Row]:
    session = ClusterSession()
    try:
        kubeconfig = session.ensure("kwok")
        with tempfile.TemporaryDirectory() as tmp:
            project = Project.create(Path(tmp), kubeconfig)
            rows = [timed(project, "pulumi up of dev, from nothing", "up", "dev")]
            rows.append(timed(project, "pulumi preview of dev, no change", "preview", "dev", "--expect-no-changes"))

            def bump(config: dict[str, Any]) -> None:
                config["ml-platform:models"][MODEL]["version"] = "1.0.1"

            project.edit_stack("dev", bump)
            rows.append(timed(project, "pulumi up of dev, a version change", "up", "dev"))
            stack = many_models_stack(project, models)
            rows.append(timed(project, f"pulumi preview of a {models}-model stack", "preview", stack))
            if not skip_render:
                rows.append(offline_render(project, stack))
            project.action("destroy", "dev")
            return rows
    finally:
        session.close()


def print_table(rows: list[Row]) -> None:
    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    width = max(len(r.operation) for r in rows)
    print(f"{'operation':<{width}}  {'total s':>8}  {'image s':>8}  {'engine s':>8}")
    for r in rows:
        print(f"{r.operation:<{width}}  {cell(r.total_s):>8}  {cell(r.image_s):>8}  {cell(r.engine_s):>8}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.engine", description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=50, help="models in the large stack (default 50)")
    parser.add_argument("--skip-render", action="store_true", help="leave out the offline render of that stack")
    args = parser.parse_args(argv)
    if args.models < 1:
        parser.error("--models must be at least 1")
    try:
        rows = run(args.models, args.skip_render)
    except (ClusterError, AssertionError, RuntimeError) as error:
        print(f"bench-engine: {error}", file=sys.stderr)
        return 1
    print_table(rows)
    write_report(OUT, rows=[asdict(r) for r in rows])
    print(f"bench-engine: wrote {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
