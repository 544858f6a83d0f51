"""The model server's artifact manifest, seen from the program: the one place that imports `model/model_server`.

The model server (`model/`) owns the artifact format: `model_server.manifest` builds a manifest from an `.onnx`
file (its external-data files, the sha256 of every file, the V2 input/output signature), writes an artifact
directory (the exporter's files unchanged, plus `manifest.json`) and verifies one; the server verifies it again
before it reports ready. The program packages that directory into a model image and checks, offline and before
anything is registered, that a configured file is an ONNX model at all. Nothing else here imports from `model/`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from conventions import ROOT

# The server package lives in model/ (its own product, with its own image); the program reads only its manifest
# module, which needs nothing beyond the standard library (onnx is imported lazily, for the signature only).
_MODEL_DIR = ROOT / "model"


def _manifest_module() -> ModuleType:
    if str(_MODEL_DIR) not in sys.path:
        sys.path.append(str(_MODEL_DIR))
    from model_server import manifest

    return manifest


def onnx_problem(path: Path) -> str | None:
    """Why `path` cannot be packaged as a model (one line: not an ONNX model, a signature the protocol cannot
    carry, a missing external data file), or None. Offline and quick: reads the file's structure, hashes nothing."""
    manifest = _manifest_module()
    try:
        declared = manifest.read_model_file(Path(path))
        manifest.signature(Path(path), declared)
    except manifest.ManifestError as error:
        return str(error)
    for location in declared.external_data:
        if not (Path(path).parent / location).is_file():
            return f"{path}: its external data file {location} is missing (expected beside it)"
    return None


def write_artifact(source: Path, out_dir: Path, *, name: str, version: str) -> dict[str, Any]:
    """Write the artifact directory of `source` (an .onnx file, its external data beside it) to `out_dir`: the
    files unchanged and `manifest.json`. Returns the manifest as `manifest.json` holds it."""
    manifest = _manifest_module().write_artifact(Path(source), Path(out_dir), name, version)
    result: dict[str, Any] = manifest.to_json()
    return result
