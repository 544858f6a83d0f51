"""The model artifact: manifest.json is built from the exporter's files and verified file by file."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from model_server import manifest
from model_server.manifest import ManifestError

from tests.model.onnx_models import external_data_model, string_label_classifier, zipmap_classifier

ARTIFACT = Path(__file__).resolve().parents[2] / "model" / "artifacts" / "breast-cancer.onnx"


def _sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_manifest_json_holds_name_version_graph_checksums_and_signature(tmp_path):
    written = manifest.write_artifact(ARTIFACT, tmp_path / "art", "breast-cancer", "1.2.0")
    assert json.loads((tmp_path / "art" / "manifest.json").read_text()) == {
        "schema": 1,
        "name": "breast-cancer",
        "version": "1.2.0",
        "graph": "breast-cancer.onnx",
        "files": {"breast-cancer.onnx": _sha256(ARTIFACT)},
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 30]}],
        "outputs": [
            {"name": "label", "datatype": "INT64", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, 2]},
        ],
    }
    assert (tmp_path / "art" / "breast-cancer.onnx").read_bytes() == ARTIFACT.read_bytes()
    assert manifest.verify(tmp_path / "art") == written


def test_external_data_files_the_graph_names_are_copied_under_their_names_and_listed(tmp_path):
    source = external_data_model(tmp_path, "wine")
    written = manifest.write_artifact(source, tmp_path / "art", "wine", "3")
    assert sorted(p.name for p in (tmp_path / "art").iterdir()) == ["manifest.json", "wine.onnx", "wine.onnx.data"]
    assert written.files == {"wine.onnx": _sha256(source), "wine.onnx.data": _sha256(tmp_path / "wine.onnx.data")}
    assert written.graph == "wine.onnx"
    assert manifest.verify(tmp_path / "art") == written


def test_string_outputs_are_bytes_in_the_manifest(tmp_path):
    string_label_classifier(tmp_path / "iris.onnx")
    built = manifest.build_manifest(tmp_path / "iris.onnx", "iris", "1")
    assert [(t.name, t.datatype, t.shape) for t in built.outputs] == [
        ("label", "BYTES", (-1,)),
        ("probabilities", "FP32", (-1, 3)),
    ]


def test_a_tampered_file_is_named_with_both_checksums(tmp_path):
    manifest.write_artifact(external_data_model(tmp_path, "wine"), tmp_path / "art", "wine", "3")
    data = tmp_path / "art" / "wine.onnx.data"
    listed = _sha256(data)
    content = bytearray(data.read_bytes())
    content[100] ^= 1
    data.write_bytes(bytes(content))
    with pytest.raises(ManifestError) as error:
        manifest.verify(tmp_path / "art")
    message = str(error.value)
    assert "\n" not in message
    assert f"{data}: checksum mismatch" in message and listed in message and _sha256(data) in message


def test_a_missing_data_file_is_named(tmp_path):
    manifest.write_artifact(external_data_model(tmp_path, "wine"), tmp_path / "art", "wine", "3")
    (tmp_path / "art" / "wine.onnx.data").unlink()
    with pytest.raises(ManifestError, match=r"wine\.onnx\.data: listed in manifest\.json but missing$"):
        manifest.verify(tmp_path / "art")


def test_building_from_a_graph_whose_data_file_is_missing_fails_naming_it(tmp_path):
    source = external_data_model(tmp_path, "wine")
    (tmp_path / "wine.onnx.data").unlink()
    with pytest.raises(ManifestError, match=r"external data file wine\.onnx\.data is missing"):
        manifest.write_artifact(source, tmp_path / "art", "wine", "3")
    assert not (tmp_path / "art" / "manifest.json").exists()


def test_a_directory_without_manifest_is_refused(tmp_path):
    shutil.copyfile(ARTIFACT, tmp_path / "breast-cancer.onnx")
    with pytest.raises(ManifestError, match=r"manifest\.json: no such file"):
        manifest.verify(tmp_path)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"schema": 2}, "schema 2 is not 1"),
        ({"graph": "other.onnx"}, "graph 'other.onnx' is not one of 'files'"),
        ({"files": {"m.onnx": "md5:abc"}}, "expected 'sha256:<64 hex digits>'"),
        ({"files": {"../m.onnx": "sha256:" + "0" * 64}}, "not a relative path inside the directory"),
        ({"name": ""}, "'name' must be a non-empty string"),
        ({"inputs": [{"name": "x"}]}, "inputs[0] must be"),
    ],
)
def test_a_malformed_manifest_is_refused_with_what_is_wrong(tmp_path, change, expected):
    manifest.write_artifact(ARTIFACT, tmp_path, "breast-cancer", "1")
    data = json.loads((tmp_path / "manifest.json").read_text())
    data.update(change)
    if "files" in change and "graph" not in change:
        data["graph"] = next(iter(change["files"]))
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ManifestError) as error:
        manifest.verify(tmp_path)
    assert expected in str(error.value) and "manifest.json" in str(error.value)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "the file is empty"),
        (b"name: not a model\n", "malformed protobuf data"),
        (b"\x08\x08", "no ir_version or no graph"),  # a protobuf with an ir_version and nothing else
        (ARTIFACT.read_bytes()[:5000], "truncated protobuf data"),
    ],
)
def test_a_file_that_is_not_an_onnx_model_is_one_line_naming_it(tmp_path, content, expected):
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    with pytest.raises(ManifestError) as error:
        manifest.read_model_file(path)
    message = str(error.value)
    assert message.startswith(f"{path} is not an ONNX model: {expected}") and "\n" not in message


def test_a_missing_model_file_is_one_line_naming_it(tmp_path):
    with pytest.raises(ManifestError, match=r"model\.onnx: no such file$"):
        manifest.build_manifest(tmp_path / "model.onnx", "m", "1")


def test_a_zipmap_output_is_refused_with_the_export_option_that_fixes_it(tmp_path):
    zipmap_classifier(tmp_path / "zipmap.onnx")
    with pytest.raises(
        ManifestError, match=r"output 'output_probability' is a sequence, not a tensor.*'zipmap': False"
    ):
        manifest.build_manifest(tmp_path / "zipmap.onnx", "m", "1")


def test_the_command_line_writes_and_verifies_a_directory(tmp_path, capsys):
    assert manifest.main(["write", str(ARTIFACT), str(tmp_path / "art"), "--name", "cancer", "--version", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["files"] == {"breast-cancer.onnx": _sha256(ARTIFACT)}
    assert manifest.main(["verify", str(tmp_path / "art")]) == 0
    (tmp_path / "art" / "breast-cancer.onnx").write_bytes(b"changed")
    assert manifest.main(["verify", str(tmp_path / "art")]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("manifest: ") and "breast-cancer.onnx: checksum mismatch" in line


def test_the_module_needs_only_the_standard_library():
    # The Pulumi program imports it without onnx, onnxruntime or numpy installed.
    import ast

    allowed = {"__future__", "argparse", "hashlib", "json", "os", "shutil", "sys", "mmap", "collections", "dataclasses",
               "pathlib"}  # fmt: skip
    for module in ("manifest.py", "onnx_file.py"):
        tree = ast.parse((ARTIFACT.parents[1] / "model_server" / module).read_text())
        imported = {
            (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        }
        assert imported - {"model_server"} <= allowed, module
