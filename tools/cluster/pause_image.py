"""The pod sandbox ("pause") image, built here: nothing can be pulled on this machine, registry.k8s.io included.

`pause/pause.c` is compiled statically (gcc -static -Os) and packed, alone, as a one-layer OCI image archive written
by this module (no Docker needed), which `ctr images import` loads into the `k8s.io` namespace of the node's own
containerd. containerd's `sandbox_image` names it, so no pod start ever tries a registry for it.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

from tools.cluster.processes import ClusterError

SOURCE = Path(__file__).with_name("pause") / "pause.c"
# `localhost/` keeps the name off every public registry: were the image ever missing, a pull would go to loopback.
IMAGE = "localhost/ml-platform/pause:1"
# The non-root user upstream's pause image runs as; nothing in the sandbox needs root.
USER = "65535:65535"

LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


def compile_pause(out_dir: Path) -> Path:
    """Compiles pause.c into `out_dir/pause`, statically, so the image needs no libc of its own."""
    gcc = shutil.which("gcc")
    if gcc is None:
        raise ClusterError("gcc is not installed; the pause image is compiled here (apt-get install gcc libc6-dev)")
    out_dir.mkdir(parents=True, exist_ok=True)
    binary = out_dir / "pause"
    result = subprocess.run(
        [gcc, "-static", "-Os", "-s", "-Wall", "-o", str(binary), str(SOURCE)], capture_output=True, text=True
    )
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise ClusterError(f"compiling {SOURCE.name} failed: {lines[-1] if lines else f'gcc exit {result.returncode}'}")
    return binary


def _tar_bytes(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def _entry(name: str, data: bytes | None, mode: int) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.mode = mode
    info.mtime = 0  # reproducible: the same binary gives the same digests
    if data is None:
        info.type = tarfile.DIRTYPE
    else:
        info.size = len(data)
    return info, data


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def oci_archive(binary: bytes, name: str = IMAGE) -> bytes:
    """A one-image OCI layout tar: a layer holding /pause, its config (entrypoint, user) and manifest, named `name`."""
    layer = _tar_bytes([_entry("pause", binary, 0o755)])
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Entrypoint": ["/pause"], "User": USER},
            "rootfs": {"type": "layers", "diff_ids": [_digest(layer)]},
        },
        sort_keys=True,
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {"mediaType": CONFIG_TYPE, "digest": _digest(config), "size": len(config)},
            "layers": [{"mediaType": LAYER_TYPE, "digest": _digest(layer), "size": len(layer)}],
        },
        sort_keys=True,
    ).encode()
    index = json.dumps(
        {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": MANIFEST_TYPE,
                    "digest": _digest(manifest),
                    "size": len(manifest),
                    "platform": {"architecture": "amd64", "os": "linux"},
                    # containerd's importer names the image from this annotation.
                    "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": name},
                }
            ],
        },
        sort_keys=True,
    ).encode()
    members = [_entry("blobs", None, 0o755), _entry("blobs/sha256", None, 0o755)]
    for blob in (layer, config, manifest):
        members.append(_entry(f"blobs/sha256/{_digest(blob).removeprefix('sha256:')}", blob, 0o644))
    members += [
        _entry("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode(), 0o644),
        _entry("index.json", index, 0o644),
    ]
    return _tar_bytes(members)


def ensure_imported(ctr: list[str], build_dir: Path) -> None:
    """Builds the pause image and imports it into containerd's `k8s.io` namespace, unless it is there already.

    `ctr` is the ctr command line for the node's containerd (binary and `--address`).
    """
    listed = subprocess.run([*ctr, "-n", "k8s.io", "images", "ls", "-q"], capture_output=True, text=True, timeout=30)
    if listed.returncode == 0 and IMAGE in listed.stdout.split():
        return
    archive = build_dir / "pause-oci.tar"
    archive.write_bytes(oci_archive(compile_pause(build_dir).read_bytes()))
    result = subprocess.run(
        [*ctr, "-n", "k8s.io", "images", "import", str(archive)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise ClusterError(f"importing the pause image into containerd failed: {lines[-1] if lines else ''}")
