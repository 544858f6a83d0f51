"""A model artifact: the exporter's files, unchanged, plus `manifest.json` naming and checksumming them.

    <directory>/
        wine.onnx            the graph, as the exporter wrote it
        wine.onnx.data       external tensor data, when the exporter wrote any (the graph names it: keep its name)
        manifest.json        {"schema": 1, "name", "version", "graph", "files": {file: "sha256:<hex>"},
                              "inputs": [{"name", "datatype", "shape"}], "outputs": [...]}

The Pulumi program builds one (`write_artifact`) to package a model apart from the server image; the server
checks one (`verify`) before it loads the graph (MODEL_DIR). docs/model-server.md is the contract between them.
Standard library only, so both can import it: the server image ships no `onnx`, the program needs none.
Every error is a `ManifestError` whose message is one line naming the file at fault.

    python -m model_server.manifest write MODEL.onnx DIRECTORY --name NAME --version VERSION
    python -m model_server.manifest verify DIRECTORY
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from model_server.onnx_file import ELEM_TYPE_TO_V2, NotOnnxError, OnnxFile, ValueInfo, read_onnx

SCHEMA = 1
MANIFEST_FILE = "manifest.json"
_CHUNK = 1 << 20


class ManifestError(ValueError):
    """An artifact or model file that cannot be used; the one-line message names the file and says why."""


@dataclass(frozen=True)
class Tensor:
    """One input or output of the model, as the Open Inference Protocol names it (-1: a dimension of any size)."""

    name: str
    datatype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Manifest:
    """The contents of `manifest.json`: what the model is and which files, with which sha256, make it up."""

    name: str
    version: str
    #: The ONNX graph, one of `files`; ONNX Runtime finds its external data files beside it.
    graph: str
    #: Every file of the artifact (relative POSIX path) -> "sha256:<hex>"; the graph first.
    files: Mapping[str, str]
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]

    def to_json(self) -> dict:
        """The manifest as the JSON object `manifest.json` holds."""

        def tensors(specs: tuple[Tensor, ...]) -> list[dict]:
            return [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in specs]

        return {
            "schema": SCHEMA,
            "name": self.name,
            "version": self.version,
            "graph": self.graph,
            "files": dict(self.files),
            "inputs": tensors(self.inputs),
            "outputs": tensors(self.outputs),
        }


def sha256_of(path: Path) -> str:
    """ "sha256:<hex>" of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def read_model_file(path: Path) -> OnnxFile:
    """The declarations of an ONNX file; `ManifestError` when it is missing, unreadable or not an ONNX model.
    Offline and quick: nothing is loaded but the file's structure (the program's config validation calls it)."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: no such file")
    try:
        return read_onnx(path)
    except NotOnnxError as error:
        raise ManifestError(f"{path} is not an ONNX model: {error}") from None
    except OSError as error:
        raise ManifestError(f"{path} cannot be read: {error.strerror or error}") from None


def signature(path: Path, model: OnnxFile) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
    """The (inputs, outputs) as V2 tensors of `model`, read from `path` by `read_model_file`; `ManifestError` for
    one V2 cannot carry (a map, a sequence, an element type V2 has no name for)."""
    return (
        tuple(_v2_tensor(path, value, "input") for value in model.inputs),
        tuple(_v2_tensor(path, value, "output") for value in model.outputs),
    )


def _v2_tensor(path: Path, value: ValueInfo, role: str) -> Tensor:
    if value.kind != "tensor":
        # scikit-learn classifiers exported with ZipMap return a sequence of maps.
        zipmap = value.kind in ("sequence", "map")
        hint = " (a scikit-learn classifier: export it with options={'zipmap': False})" if zipmap else ""
        raise ManifestError(
            f"{path}: {role} {value.name!r} is a {value.kind}, not a tensor, so V2 cannot carry it{hint}"
        )
    datatype = ELEM_TYPE_TO_V2.get(value.elem_type)
    if datatype is None:
        raise ManifestError(
            f"{path}: {role} {value.name!r} has ONNX element type {value.elem_type}, which V2 has no datatype for"
        )
    return Tensor(name=value.name, datatype=datatype, shape=value.shape)


def build_manifest(path: Path, name: str, version: str) -> Manifest:
    """The manifest of the model file `path` and the external data files its graph names (which must exist beside
    it): signature from the graph, sha256 of every file."""
    path = Path(path)
    model = read_model_file(path)
    inputs, outputs = signature(path, model)
    files = {path.name: sha256_of(path)}
    for location in model.external_data:
        data = path.parent / location
        if not data.is_file():
            raise ManifestError(f"{path}: its external data file {location} is missing (expected at {data})")
        files[location] = sha256_of(data)
    return Manifest(name=name, version=version, graph=path.name, files=files, inputs=inputs, outputs=outputs)


def write_artifact(path: Path, directory: Path, name: str, version: str) -> Manifest:
    """Copy the model file `path` and its external data files into `directory` (created; same names) and write
    their `manifest.json` there; return the manifest."""
    manifest = build_manifest(path, name, version)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for file in manifest.files:
        target = directory / file
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(path).parent / file, target)
    # Written last, through a temporary name: a directory with a manifest is a complete one.
    partial = directory / f".{MANIFEST_FILE}.partial"
    partial.write_text(json.dumps(manifest.to_json(), indent=2) + "\n")
    os.replace(partial, directory / MANIFEST_FILE)
    return manifest


def read_manifest(directory: Path) -> Manifest:
    """Parse `directory/manifest.json` (no checksums yet); `ManifestError` naming what is wrong with it."""
    where = Path(directory) / MANIFEST_FILE
    try:
        data = json.loads(where.read_bytes())
    except FileNotFoundError:
        raise ManifestError(f"{where}: no such file (a model directory holds manifest.json)") from None
    except OSError as error:
        raise ManifestError(f"{where} cannot be read: {error.strerror or error}") from None
    except ValueError as error:
        raise ManifestError(f"{where} is not valid JSON: {error}") from None
    return _parse(where, data)


def verify(directory: Path) -> Manifest:
    """The manifest of `directory`, once every file it lists exists and has its sha256; else `ManifestError`
    naming the first file that is missing or differs."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    for file, expected in manifest.files.items():
        target = directory / file
        try:
            actual = sha256_of(target)
        except FileNotFoundError:
            raise ManifestError(f"{target}: listed in {MANIFEST_FILE} but missing") from None
        except OSError as error:
            raise ManifestError(f"{target} cannot be read: {error.strerror or error}") from None
        if actual != expected:
            raise ManifestError(f"{target}: checksum mismatch: {MANIFEST_FILE} says {expected}, the file is {actual}")
    return manifest


def _parse(where: Path, data: object) -> Manifest:
    def bad(message: str) -> ManifestError:
        return ManifestError(f"{where}: {message}")

    if not isinstance(data, dict):
        raise bad("expected a JSON object")
    if data.get("schema") != SCHEMA:
        raise bad(f"schema {data.get('schema')!r} is not {SCHEMA}, the one this server reads")
    for key in ("name", "version", "graph"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise bad(f"{key!r} must be a non-empty string")
    files = data.get("files")
    if not isinstance(files, dict) or not files:
        raise bad("'files' must map each file to 'sha256:<hex>'")
    for file, digest in files.items():
        parts = PurePosixPath(file).parts
        if not file or PurePosixPath(file).is_absolute() or ".." in parts:
            raise bad(f"file {file!r} is not a relative path inside the directory")
        if not isinstance(digest, str) or not _is_sha256(digest):
            raise bad(f"file {file!r}: expected 'sha256:<64 hex digits>', got {digest!r}")
    if data["graph"] not in files:
        raise bad(f"graph {data['graph']!r} is not one of 'files'")
    return Manifest(
        name=data["name"],
        version=data["version"],
        graph=data["graph"],
        files=dict(files),
        inputs=_tensors(data, "inputs", bad),
        outputs=_tensors(data, "outputs", bad),
    )


def _is_sha256(digest: str) -> bool:
    prefix, _, hexdigest = digest.partition(":")
    return prefix == "sha256" and len(hexdigest) == 64 and all(c in "0123456789abcdef" for c in hexdigest)


def _tensors(data: dict, key: str, bad) -> tuple[Tensor, ...]:
    items = data.get(key)
    if not isinstance(items, list):
        raise bad(f"{key!r} must be a list of tensors")
    tensors = []
    for index, item in enumerate(items):
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("name"), str)
            or not isinstance(item.get("datatype"), str)
            or not isinstance(item.get("shape"), list)
            or not all(type(dim) is int for dim in item["shape"])
        ):
            raise bad(f"{key}[{index}] must be {{'name': str, 'datatype': str, 'shape': [int, ...]}}")
        tensors.append(Tensor(name=item["name"], datatype=item["datatype"], shape=tuple(item["shape"])))
    return tuple(tensors)


def main(argv: list[str] | None = None) -> int:
    """`write` an artifact directory or `verify` one from the command line; exit 1 with one line on a bad one."""
    parser = argparse.ArgumentParser(prog="python -m model_server.manifest", description="model artifact directories")
    commands = parser.add_subparsers(dest="command", required=True)
    write = commands.add_parser("write", help="copy MODEL.onnx and its external data into DIRECTORY, with a manifest")
    write.add_argument("model", type=Path)
    write.add_argument("directory", type=Path)
    write.add_argument("--name", required=True)
    write.add_argument("--version", required=True)
    check = commands.add_parser("verify", help="check every file DIRECTORY's manifest.json lists")
    check.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "write":
            written = write_artifact(args.model, args.directory, args.name, args.version)
        else:
            written = verify(args.directory)
    except ManifestError as error:
        print(f"manifest: {error}", file=sys.stderr)
        return 1
    print(json.dumps(written.to_json(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
