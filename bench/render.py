"""`make bench-render`: how `make render`'s time grows with the number of models.

For 1, 10 and N models (default 50) it writes a development stack derived from Pulumi.dev.yaml (its top-level keys
kept, `models` replaced by N copies of `breast-cancer`, each deploying a digest-pinned `image:` so nothing is
built) into a scratch project that links this repo's program, then times the whole command
`python -m tools.render --stack <it> --out <tmp>`: interpreter start, the program under mocks, the files, the
schema validation for every supported Kubernetes version, the policy and checkov. A printed table (wall seconds,
seconds per model, and the CPU seconds of the render and its checkov, which a busy machine changes least), and
build/bench/render.json with the date, the machine and its load average.

    python -m bench.render [--models 50] [--repeat 1] [--profile] [--baseline REV]

`--repeat` keeps the fastest of that many runs (the machine is shared); `--profile` runs the N-model render once
more under cProfile and prints where its time went (build/bench/render.prof for pstats or snakeviz).
`--baseline REV` also times the render of git revision REV (its tools and program, exported from git, run by this
venv's Python and checkov), each of its runs paired with one of this tree's (which goes first alternates), so both
see the same load; the table then shows the two side by side.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import platform
import pstats
import resource
import subprocess
import sys
import tarfile
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
# A baseline tree has no venvs of its own: it runs this one's checkov.
CHECKOV = Path(os.environ.get("CHECKOV", REPO / ".venv-checkov" / "bin" / "checkov"))


@dataclass
class Row:
    """One stack size, timed."""

    models: int
    seconds: float
    seconds_per_model: float
    cpu_seconds: float  # the render's and checkov's CPU time: what a busy machine changes least
    baseline: Row | None = None  # the same size rendered by --baseline's revision


@dataclass(frozen=True)
class Tree:
    """Where a render's code lives: this repository, or a revision exported from git (--baseline)."""

    root: Path
    env: dict[str, str] | None = None  # None: this process's environment
    label: str = "this tree"


def export_revision(revision: str, directory: Path) -> Tree:
    """``revision``'s files (`git archive`) in ``directory``, as a tree to render with. Raises RuntimeError."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", revision], capture_output=True, check=False)
    if archive.returncode != 0:
        raise RuntimeError(f"--baseline {revision}: {archive.stderr.decode().strip()}")
    directory.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(directory, filter="data")
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", f"{revision}^{{commit}}"], capture_output=True, text=True
    ).stdout.strip()
    return Tree(directory, env={**os.environ, "CHECKOV": str(CHECKOV)}, label=f"{revision} ({commit})")


def stack_document(models: int, root: Path = REPO) -> dict[str, Any]:
    """Pulumi.dev.yaml with `models` replaced by ``models`` copies of breast-cancer, each on a pinned image."""
    document = yaml.safe_load((root / "Pulumi.dev.yaml").read_text())
    template = dict(document["config"][MODELS_KEY][MODEL])
    for source in ("build", "model"):  # whatever the stack builds or packages: each copy runs a pinned image instead
        template.pop(source, None)
    template["image"] = IMAGE
    document["config"][MODELS_KEY] = {f"{MODEL}-{i:02d}": dict(template) for i in range(models)}
    return document


def scratch_project(directory: Path, stack: str, models: int, root: Path = REPO) -> Path:
    """A project in ``directory`` running ``root``'s program, with `Pulumi.<stack>.yaml` of ``models`` models."""
    directory.mkdir(parents=True)
    for name in PROJECT_FILES:
        (directory / name).symlink_to(root / name)
    (directory / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(stack_document(models, root), sort_keys=False))
    return directory


def render_command(project: Path, stack: str, out: Path) -> list[str]:
    return [sys.executable, "-m", "tools.render", "--stack", stack, "--out", str(out), "--project-dir", str(project)]


def time_render(tmp: Path, models: int, repeat: int, baseline: Tree | None = None) -> Row:
    """The fastest of ``repeat`` renders of a ``models``-model stack: wall seconds, and that run's CPU seconds.

    With ``baseline``, each run of this tree is paired with a run of the baseline's (which goes first alternates), and
    the baseline gets its own Row.
    """
    stack = f"bench{models}"
    trees = {"": Tree(REPO)} | ({"baseline-": baseline} if baseline else {})
    projects = {name: scratch_project(tmp / f"{name}{stack}", stack, models, tree.root) for name, tree in trees.items()}
    best = {name: (float("inf"), 0.0) for name in trees}
    for attempt in range(repeat):
        for name in sorted(trees, reverse=attempt % 2 == 0):  # the baseline first, then this tree first: no order wins
            command = render_command(projects[name], stack, tmp / f"out-{name}{stack}-{attempt}")
            cpu_before = _children_cpu()
            start = time.monotonic()
            result = subprocess.run(
                command, cwd=trees[name].root, env=trees[name].env, capture_output=True, text=True, check=False
            )
            elapsed = time.monotonic() - start
            if result.returncode != 0:
                which = f"{name.rstrip('-')} " if name else ""
                raise RuntimeError(
                    f"{which}render of {models} models exited {result.returncode}: {result.stderr.strip()[-500:]}"
                )
            if elapsed < best[name][0]:
                best[name] = elapsed, _children_cpu() - cpu_before
    rows = {name: Row(models, round(s, 2), round(s / models, 3), round(cpu, 2)) for name, (s, cpu) in best.items()}
    rows[""].baseline = rows.get("baseline-")
    return rows[""]


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


def print_table(rows: list[Row], baseline: Tree | None = None) -> None:
    """One line per stack size; with a baseline, its figures first and the change in wall seconds."""
    if baseline is None:
        print(f"{'models':>6}  {'seconds':>8}  {'s/model':>8}  {'cpu s':>6}")
        for row in rows:
            print(f"{row.models:>6}  {row.seconds:>8.2f}  {row.seconds_per_model:>8.3f}  {row.cpu_seconds:>6.2f}")
        return
    print(f"before: {baseline.label}; after: this tree")
    print(f"{'models':>6}  {'before s':>8}  {'after s':>8}  {'change':>7}  {'before cpu s':>12}  {'after cpu s':>11}")
    for row in rows:
        before = row.baseline
        assert before is not None
        change = f"{(row.seconds - before.seconds) / before.seconds:+.0%}"
        print(
            f"{row.models:>6}  {before.seconds:>8.2f}  {row.seconds:>8.2f}  {change:>7}  "
            f"{before.cpu_seconds:>12.2f}  {row.cpu_seconds:>11.2f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.render", description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=50, help="models in the largest stack (default 50)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per size; the fastest counts (default 1)")
    parser.add_argument("--profile", action="store_true", help="also profile the largest render with cProfile")
    parser.add_argument("--baseline", metavar="REV", help="also time git revision REV's render, beside each run")
    args = parser.parse_args(argv)
    if args.models < 1 or args.repeat < 1:
        parser.error("--models and --repeat must be at least 1")
    sizes = sorted({1, 10, args.models})
    load_before = os.getloadavg()[0]  # the machine is shared: a busy one makes every row slower
    try:
        with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
            baseline = export_revision(args.baseline, Path(tmp) / "baseline") if args.baseline else None
            rows = [time_render(Path(tmp), models, args.repeat, baseline) for models in sizes]
            print_table(rows, baseline)
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
        baseline=baseline.label if baseline else None,
        rows=[asdict(row) for row in rows],
    )
    print(f"bench-render: wrote {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
