"""Packaging a model file into the build context of its model image: deterministic, so the same model file gives
the same image digest (the offline render's stand-in digest, and BuildKit's real one, both follow the context).

    <context>/
        Dockerfile      FROM scratch; /model/ (the artifact directory) and /copy-model; labels: name, version, sha256
        model/          the exporter's files, unchanged, and manifest.json (components/model_artifact.py)
        copy-model      the init container's copier (copy_model.c, static, no libc: about 2 KB)

Every file's mode is set to 0644 (0755 for the copier and directories) and its mtime to a time derived from its
content, and the build passes SOURCE_DATE_EPOCH=0: nothing in the image depends on when or where it was packaged.
Not a constant mtime: BuildKit sends a local context by difference and skips a file whose size and mtime did not
change, so a retrained model of the same size would silently keep the old bytes in the image (measured: it did).
The image is the model's size plus a few kilobytes; a model-only change is one new small image and nothing else.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.model_artifact import write_artifact
from components.security import RUN_AS_GROUP, RUN_AS_USER

COPIER_SOURCE = Path(__file__).with_name("copy_model.c")
COPIER = "copy-model"
ARTIFACT_DIR = "model"
# Where the program writes one build context per model and track, relative to the project (build/ is git-ignored).
CONTEXTS_DIR = Path("build") / "model-images"
# Freestanding and static: no libc, no loader, no build id (which would differ with the linker's version only).
COPIER_FLAGS = (
    "-static",
    "-nostdlib",
    "-ffreestanding",
    "-fno-builtin",
    "-fno-stack-protector",
    "-fno-asynchronous-unwind-tables",
    "-fno-pie",
    "-no-pie",
    "-ffunction-sections",
    "-Os",
    "-s",
    "-Wall",
    "-Wl,--build-id=none",
    "-Wl,-z,noseparate-code",
    "-Wl,--gc-sections",
)
# The emptyDir of the init-container path holds the model and some room: a tenth more, at least 16 MiB.
_MIB = 1 << 20
SIZE_HEADROOM_MIN = 16 * _MIB


class PackagingError(Exception):
    """The model could not be packaged (no compiler, a model file the manifest refuses); one line."""


@dataclass(frozen=True)
class PackagedModel:
    """A model image's build context, written: where, the model's bytes, and its manifest."""

    context: Path
    size_bytes: int
    manifest: dict[str, Any]

    @property
    def size_limit(self) -> str:
        """The emptyDir size limit for this model on the init-container path (a Kubernetes quantity)."""
        return size_limit(self.size_bytes)

    @property
    def graph_sha256(self) -> str:
        """The graph file's checksum, `sha256:<hex>`, as the manifest records it."""
        return str(self.manifest["files"][self.manifest["graph"]])


def size_limit(size_bytes: int) -> str:
    """`<n>Mi`: the model plus a tenth (at least 16 MiB), rounded up to a MiB."""
    total = size_bytes + max(size_bytes // 10, SIZE_HEADROOM_MIN)
    return f"{-(-total // _MIB)}Mi"


def compile_copier(cache_dir: Path) -> Path:
    """The static copier, compiled once per source and flags into `cache_dir` (reused while both are unchanged)."""
    source = COPIER_SOURCE.read_bytes()
    key = hashlib.sha256(source + "\0".join(COPIER_FLAGS).encode()).hexdigest()[:16]
    binary = cache_dir / f"{COPIER}-{key}"
    if binary.is_file():
        return binary
    gcc = shutil.which("gcc")
    if gcc is None:
        raise PackagingError(f"gcc is not installed; the model image's {COPIER} is compiled here (apt-get install gcc)")
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = binary.with_suffix(".partial")
    result = subprocess.run(
        [gcc, *COPIER_FLAGS, "-o", str(partial), str(COPIER_SOURCE)], capture_output=True, text=True
    )
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise PackagingError(f"compiling {COPIER_SOURCE.name} failed: {lines[-1] if lines else result.returncode}")
    os.replace(partial, binary)
    return binary


def dockerfile(manifest: dict[str, Any]) -> str:
    """The model image: FROM scratch, the artifact at /model/, the copier as its entrypoint, labels from the
    manifest (name, version, the graph's sha256) so `docker inspect` says which model an image holds."""
    labels = {
        "org.opencontainers.image.title": manifest["name"],
        "org.opencontainers.image.version": manifest["version"],
        "org.opencontainers.image.description": "An ONNX model artifact for the ml-platform model server",
        "ml-platform.model.graph": manifest["graph"],
        "ml-platform.model.sha256": manifest["files"][manifest["graph"]],
    }
    label_lines = " \\\n      ".join(f"{key}={json.dumps(value)}" for key, value in labels.items())
    return (
        "# Written by components/model_package.py: a model artifact, and the copier its init container runs.\n"
        "FROM scratch\n"
        f"COPY {ARTIFACT_DIR}/ /{ARTIFACT_DIR}/\n"
        f"COPY {COPIER} /{COPIER}\n"
        f"LABEL {label_lines}\n"
        f"USER {RUN_AS_USER}:{RUN_AS_GROUP}\n"
        f'ENTRYPOINT ["/{COPIER}"]\n'
    )


def write_context(source: Path, context: Path, *, name: str, version: str, cache_dir: Path) -> PackagedModel:
    """Write the build context of `source`'s model image into `context` (replaced whole)."""
    if context.exists():
        shutil.rmtree(context)
    context.mkdir(parents=True)
    manifest = write_artifact(source, context / ARTIFACT_DIR, name=name, version=version)
    shutil.copyfile(compile_copier(cache_dir), context / COPIER)
    (context / "Dockerfile").write_text(dockerfile(manifest), encoding="utf-8")
    size = sum((context / ARTIFACT_DIR / file).stat().st_size for file in manifest["files"])
    _normalize(context)
    return PackagedModel(context=context, size_bytes=size, manifest=manifest)


# Content-derived mtimes fall in 2001-2002: after the epoch, so no tool takes them for "unset".
_MTIME_BASE = 1_000_000_000


def content_mtime(path: Path) -> int:
    """A file's mtime as a function of its bytes: the same file always gets the same one, a changed file another."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(_MIB):
            digest.update(chunk)
    return _MTIME_BASE + int(digest.hexdigest()[:6], 16)


def _normalize(context: Path) -> None:
    """Modes and mtimes that depend on the content only, not on the machine or the time: BuildKit copies both into
    the layer, and decides from size and mtime which files of the context to send again."""
    for path in sorted(context.rglob("*"), reverse=True):
        if path.is_dir():
            path.chmod(0o755)
            os.utime(path, (_MTIME_BASE, _MTIME_BASE))
        else:
            path.chmod(0o755 if path.name == COPIER and path.parent == context else 0o644)
            mtime = content_mtime(path)
            os.utime(path, (mtime, mtime))
    os.utime(context, (_MTIME_BASE, _MTIME_BASE))
