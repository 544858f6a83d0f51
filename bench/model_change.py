"""`make bench-model-change`: what a model-only change costs, with the model delivered apart from the runtime
(issue 11) and, as before it, baked into the whole server image.

A model-only change here is a retrained model: the same graph with different bytes (the example model with a new
doc_string appended). For each way it times the build and the push of the change with the Docker daemon's
BuildKit (`DOCKER_BUILDKIT=1 docker build`, `docker push` to the registry on 127.0.0.1:5000, which
`.ci/provision` starts), after a first build and push of the model before the change, and it reads both versions'
manifests from the registry to count what a node that runs the old version must pull for the new one: the
compressed layers (and the config) whose digests it does not hold yet.

- today: model/ copied to a scratch context with the changed model in artifacts/, the server image rebuilt
  (model/Dockerfile, the local base image, the CA secret) and pushed;
- model image: the changed model packaged by the program's own code (components/model_package.py) into its small
  FROM scratch image and pushed; the runtime image does not change, so a node pulls nothing of it.

Targets: the change built and pushed in <= 10 s; a node pulls <= the model's size + 1 MB. A printed table, and
build/bench/model-change-<date>.json.

    python -m bench.model_change [--repeat 3] [--base-image ml-platform/python-base:3.11-bookworm]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.report import write_report
from components.model_package import write_context
from tools.docker.build import ImageBuild, build_image, docker_client

REPO = Path(__file__).resolve().parents[1]
REGISTRY = "127.0.0.1:5000"
MODEL = REPO / "model" / "artifacts" / "breast-cancer.onnx"
LOCAL_BASE = "ml-platform/python-base:3.11-bookworm"
CA_FILE = Path("/etc/ssl/certs/ca-certificates.crt")
TARGET_SECONDS = 10.0
TARGET_EXTRA_BYTES = 1_000_000
_MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)


@dataclass(frozen=True)
class Way:
    """One way of shipping a model change, measured."""

    name: str
    build_seconds: float
    push_seconds: float
    image_bytes: int  # every compressed layer and the config: what a node with nothing cached pulls
    pull_bytes: int  # what a node that runs the old version pulls for the new one

    @property
    def seconds(self) -> float:
        return self.build_seconds + self.push_seconds


def retrained(source: Path, into: Path, round_: int) -> Path:
    """`source` with a doc_string appended (ModelProto field 6): another valid ONNX file of the same graph."""
    note = f"retrained {round_} {uuid.uuid4().hex}".encode()
    into.parent.mkdir(parents=True, exist_ok=True)
    into.write_bytes(source.read_bytes() + bytes([0x32, len(note)]) + note)
    return into


def docker(*args: str, timeout: float = 600) -> str:
    result = subprocess.run([docker_client(), *args], capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise SystemExit(f"docker {' '.join(args)} failed: {(result.stderr or result.stdout).strip()[-300:]}")
    return result.stdout


def manifest(reference: str) -> dict:
    """The image manifest the registry serves for `<registry>/<repository>:<tag>`."""
    name, _, tag = reference.removeprefix(f"{REGISTRY}/").rpartition(":")
    request = urllib.request.Request(
        f"http://{REGISTRY}/v2/{name}/manifests/{tag}", headers={"Accept": _MANIFEST_TYPES}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def blobs(document: dict) -> dict[str, int]:
    """digest -> compressed size of every blob a pull fetches: the layers and the config."""
    found = {layer["digest"]: layer["size"] for layer in document["layers"]}
    found[document["config"]["digest"]] = document["config"]["size"]
    return found


def pushed(build, tag: str) -> tuple[float, float]:
    """(build seconds, push seconds) of `build()` then `docker push tag`."""
    started = time.monotonic()
    build()
    built = time.monotonic()
    docker("push", tag)
    return built - started, time.monotonic() - built


def measure(name: str, build_tag, repository: str, rounds: int) -> Way:
    """Build and push the model before the change, then the changed one `rounds` times; the fastest change."""
    before = f"{repository}:before"
    pushed(lambda: build_tag(before, 0), before)
    old = blobs(manifest(before))
    best: Way | None = None
    for round_ in range(1, rounds + 1):
        after = f"{repository}:after-{round_}"
        build_seconds, push_seconds = pushed(lambda tag=after, r=round_: build_tag(tag, r), after)
        new = blobs(manifest(after))
        way = Way(
            name=name,
            build_seconds=build_seconds,
            push_seconds=push_seconds,
            image_bytes=sum(new.values()),
            pull_bytes=sum(size for digest, size in new.items() if digest not in old),
        )
        if best is None or way.seconds < best.seconds:
            best = way
    assert best is not None
    return best


def bench(rounds: int, base_image: str, work: Path) -> list[Way]:
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    context = work / "server"
    shutil.copytree(REPO / "model", context, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))

    def server_image(tag: str, round_: int) -> None:
        # Today: the model is a file of the server's build context; every change rebuilds and pushes that image.
        retrained(MODEL, context / "artifacts" / MODEL.name, round_)
        ca = CA_FILE if CA_FILE.is_file() else None
        build_image(ImageBuild(tag=tag, base_image=base_image, ca_file=ca, context=context), quiet=True)

    def model_image(tag: str, round_: int) -> None:
        source = retrained(MODEL, work / "models" / MODEL.name, round_)
        packaged = write_context(source, work / "model-image", name="breast-cancer", version="1.0.0",
                                 cache_dir=work / "copier")  # fmt: skip
        command = [docker_client(), "build", "--quiet", "--tag", tag, str(packaged.context)]
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=300)

    run_id = uuid.uuid4().hex[:8]
    return [
        measure("today: whole server image", server_image, f"{REGISTRY}/bench/model-server-{run_id}", rounds),
        measure("model image (issue 11)", model_image, f"{REGISTRY}/bench/model-{run_id}", rounds),
    ]


def table(ways: list[Way], model_bytes: int) -> str:
    rows = [
        ("build + push of a model-only change", lambda w: f"{w.seconds:.1f} s", f"<= {TARGET_SECONDS:.0f} s"),
        ("  build", lambda w: f"{w.build_seconds:.1f} s", ""),
        ("  push", lambda w: f"{w.push_seconds:.1f} s", ""),
        ("image size (compressed)", lambda w: f"{w.image_bytes / 1e6:.2f} MB", ""),
        (
            "a node pulls for the change",
            lambda w: f"{w.pull_bytes / 1e6:.3f} MB",
            f"<= {(model_bytes + TARGET_EXTRA_BYTES) / 1e6:.3f} MB (model + 1 MB)",
        ),
    ]
    header = ("", *(w.name for w in ways), "target")
    lines = [header, *((label, *(cell(w) for w in ways), target) for label, cell, target in rows)]
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(str(c).ljust(widths[i]) for i, c in enumerate(line)).rstrip() for line in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench-model-change", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="changes measured per way; the fastest is reported")
    parser.add_argument("--base-image", default=f"{LOCAL_BASE}", help="the server image's base (default: %(default)s)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-model-change-") as tmp:
        ways = bench(args.repeat, args.base_image, Path(tmp))
    model_bytes = MODEL.stat().st_size
    today, new = ways
    print(table(ways, model_bytes))
    met = new.seconds <= TARGET_SECONDS and new.pull_bytes <= model_bytes + TARGET_EXTRA_BYTES
    print(f"model file {model_bytes / 1e6:.3f} MB; targets {'met' if met else 'NOT met'}")
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    out = REPO / "build" / "bench" / f"model-change-{date}.json"
    write_report(
        out,
        model_bytes=model_bytes,
        targets={"seconds": TARGET_SECONDS, "pull_bytes": model_bytes + TARGET_EXTRA_BYTES},
        targets_met=met,
        ways=[{**asdict(way), "seconds": way.seconds} for way in (today, new)],
    )
    print(f"wrote {out.relative_to(REPO)}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
