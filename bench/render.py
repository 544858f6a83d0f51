"""`make bench-render`: how `make render`'s time grows with the number of models.

For 1, 10 and N models (default 50) it writes a development stack derived from Pulumi.dev.yaml (its top-level keys
kept, `models` replaced by N copies of `breast-cancer`, each deploying a digest-pinned `image:` so nothing is
built) into a scratch project that links this repo's program, then times the whole command
`python -m tools.render --stack <it> --out <tmp>`: interpreter start, the program under mocks, the files, the
schema validation for every supported Kubernetes version, the policy and checkov. A printed table (wall seconds,
seconds per model, and the CPU seconds of the render and its checkov, which a busy machine changes least), and
build/bench/render.json with the date, the machine and its load average.

    python -m bench.render [--models 50] [--repeat 1] [--profile]

`--repeat` keeps the fastest of that many runs (the machine is shared); `--profile` runs the N-model render once
more under cProfile and prints where its time went (build/bench/render.prof for pstats or snakeviz).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.report import write_report

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "build" / "bench" / "render.json"
PROFILE = REPO / "build" / "bench" / "render.prof"
MODEL = "breast-cancer"
MODELS_KEY = "ml-platform:models"
# A fixed, well-formed digest: the render never pulls it, and a pinned `image:` means no build context is hashed.
IMAGE = f"127.0.0.1:5000/{MODEL}@sha256:{hashlib.sha256(b'bench-render').hexdigest()}"
# What a scratch project needs from this repo; linked, so the render runs the real program and components.
PROJECT_FILES = ("Pulumi.yaml", "__main__.py", "components", "model")


@dataclass
class Row:
    """One stack size, timed."""

    models: int
    seconds: float
    seconds_per_model: float
    cpu_seconds: float  # the render's and checkov's CPU time: what a busy machine changes least


def stack_document(models: int) -> dict[str, Any]:
    """Pulumi.dev.yaml with `models` replaced by ``models`` copies of breast-cancer, each on a pinned image."""
    document = yaml.safe_load((REPO / "Pulumi.dev.yaml").read_text())
    template = dict(document["config"][MODELS_KEY][MODEL])
    template.pop("build", None)
    template["image"] = IMAGE
    document["config"][MODELS_KEY] = {f"{MODEL}-{i:02d}": dict(template) for i in range(models)}
    return document


def scratch_project(directory: Path, stack: str, models: int) -> Path:
    """A project in ``directory`` running this repo's program, with `Pulumi.<stack>.yaml` of ``models`` models."""
    directory.mkdir(parents=True)
    for name in PROJECT_FILES:
        (directory / name).symlink_to(REPO / name)
    (directory / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(stack_document(models), sort_keys=False))
    return directory


def render_command(project: Path, stack: str, out: Path) -> list[str]:
    return [sys.executable, "-m", "tools.render", "--stack", stack, "--out", str(out), "--project-dir", str(project)]


def time_render(tmp: Path, models: int, repeat: int) -> Row:
    """The fastest of ``repeat`` renders of a ``models``-model stack: wall seconds, and that run's CPU seconds."""
    stack = f"bench{models}"
    project = scratch_project(tmp / stack, stack, models)
    best, best_cpu = float("inf"), 0.0
    for attempt in range(repeat):
        command = render_command(project, stack, tmp / f"out-{stack}-{attempt}")
        cpu_before = _children_cpu()
        start = time.monotonic()
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
        elapsed = time.monotonic() - start
        if result.returncode != 0:
            raise RuntimeError(f"render of {models} models exited {result.returncode}: {result.stderr.strip()[-500:]}")
        if elapsed < best:
            best, best_cpu = elapsed, _children_cpu() - cpu_before
    return Row(models, round(best, 2), round(best / models, 3), round(best_cpu, 2))


def _children_cpu() -> float:
    """User and system CPU seconds of every finished child process (the render and the checkov it waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def profile_render(tmp: Path, models: int, top: int = 20) -> None:
    """Render ``models`` models once under cProfile; print the costliest calls by cumulative time."""
    stack = f"bench{models}"
    project = tmp / stack if (tmp / stack).is_dir() else scratch_project(tmp / stack, stack, models)
    PROFILE.parent.mkdir(parents=True, exist_ok=True)
    command = render_command(project, stack, tmp / f"out-{stack}-profile")
    command[1:3] = ["-m", "cProfile", "-o", str(PROFILE), "-m", "tools.render"]
    subprocess.run(command, cwd=REPO, capture_output=True, check=False)
    print(f"\nprofile of the {models}-model render ({PROFILE.relative_to(REPO)}):")
    pstats.Stats(str(PROFILE), stream=sys.stdout).sort_stats("cumulative").print_stats(top)


def _cpu_model() -> str:
    """The CPU's name (platform.processor() is empty on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def print_table(rows: list[Row]) -> None:
    print(f"{'models':>6}  {'seconds':>8}  {'s/model':>8}  {'cpu s':>6}")
    for row in rows:
        print(f"{row.models:>6}  {row.seconds:>8.2f}  {row.seconds_per_model:>8.3f}  {row.cpu_seconds:>6.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.render", description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=50, help="models in the largest stack (default 50)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per size; the fastest counts (default 1)")
    parser.add_argument("--profile", action="store_true", help="also profile the largest render with cProfile")
    args = parser.parse_args(argv)
    if args.models < 1 or args.repeat < 1:
        parser.error("--models and --repeat must be at least 1")
    sizes = sorted({1, 10, args.models})
    load_before = os.getloadavg()[0]  # the machine is shared: a busy one makes every row slower
    try:
        with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
            rows = [time_render(Path(tmp), models, args.repeat) for models in sizes]
            print_table(rows)
            load_after = os.getloadavg()[0]
            print(f"load average (1 min): {load_before:.2f} before, {load_after:.2f} after, {os.cpu_count()} CPUs")
            if args.profile:
                profile_render(Path(tmp), args.models)
    except RuntimeError as error:
        print(f"bench-render: {error}", file=sys.stderr)
        return 1
    write_report(
        OUT,
        cpu_model=_cpu_model(),  # the shared header's "processor" is empty on Linux
        load_average={"before": round(load_before, 2), "after": round(load_after, 2)},
        repeat=args.repeat,
        rows=[asdict(row) for row in rows],
    )
    print(f"bench-render: wrote {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
