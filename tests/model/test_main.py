"""Serving from MODEL_DIR: every checksum is verified before the server listens, then the graph loads from there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
from model_server import manifest

from tests.model.onnx_models import external_data_model

MODEL_PACKAGE = Path(__file__).resolve().parents[2] / "model"


def _snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns) for p in directory.rglob("*")}


def test_a_model_with_external_data_serves_from_its_directory_without_writing_there(start_server, tmp_path):
    (tmp_path / "export").mkdir()
    source = external_data_model(tmp_path / "export", "wine")
    model_dir = tmp_path / "var-lib-model"
    manifest.write_artifact(source, model_dir, "wine", "3")
    before = _snapshot(model_dir)
    server = start_server(MODEL_DIR=str(model_dir))
    server.wait_for("/v2/health/ready")
    rows = np.random.default_rng(0).normal(size=(3, 64)).astype(np.float32)
    body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [3, 64], "data": rows.ravel().tolist()}]}
    response = httpx.post(server.url + "/v2/models/wine/versions/3/infer", json=body)
    assert response.status_code == 200, response.text
    (expected,) = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"]).run(None, {"x": rows})
    (output,) = response.json()["outputs"]
    np.testing.assert_allclose(np.array(output["data"]).reshape(output["shape"]), expected, rtol=1e-6)
    assert server.terminate() == 0
    assert _snapshot(model_dir) == before
    verified = [record for record in server.log_records() if record["message"] == "model files verified"]
    assert verified and verified[0]["files"] == ["wine.onnx", "wine.onnx.data"]


def _tampered(tmp_path: Path, how: str) -> tuple[Path, Path]:
    model_dir = tmp_path / "model"
    manifest.write_artifact(external_data_model(tmp_path, "wine"), model_dir, "wine", "3")
    data = model_dir / "wine.onnx.data"
    if how == "altered":
        data.write_bytes(data.read_bytes()[:-1] + b"\x00")
    else:
        data.unlink()
    return model_dir, data


def test_an_altered_data_file_stops_the_server_before_it_listens_with_exit_4(start_server, tmp_path):
    model_dir, data = _tampered(tmp_path, "altered")
    server = start_server(MODEL_DIR=str(model_dir))
    assert server.process.wait(30) == 4
    (record,) = server.log_records()
    assert record["level"] == "error"
    assert f"{data}: checksum mismatch: manifest.json says sha256:" in record["message"]
    assert "the server will not start" in record["message"]


def test_a_missing_data_file_stops_the_server_with_exit_4_naming_it(start_server, tmp_path):
    model_dir, data = _tampered(tmp_path, "missing")
    server = start_server(MODEL_DIR=str(model_dir))
    assert server.process.wait(30) == 4
    (record,) = server.log_records()
    assert record["message"].endswith(f"{data}: listed in manifest.json but missing")


def test_model_dir_and_model_path_both_set_stop_the_server_with_one_line_naming_both(tmp_path):
    manifest.write_artifact(external_data_model(tmp_path, "wine"), tmp_path / "model", "wine", "3")
    result = subprocess.run(
        [sys.executable, "-m", "model_server"],
        env={**os.environ, "PYTHONPATH": str(MODEL_PACKAGE), "MODEL_DIR": str(tmp_path / "model"), "MODEL_PATH": "x"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("model-server: bad setting: MODEL_DIR=") and "MODEL_PATH='x' are both set" in line


def test_the_manifest_is_what_the_server_reports_as_metadata(start_server, tmp_path):
    model_dir = tmp_path / "model"
    written = manifest.write_artifact(external_data_model(tmp_path, "wine"), model_dir, "wine", "3")
    server = start_server(MODEL_DIR=str(model_dir))
    metadata = server.wait_for("/v2/models/wine").json()
    assert metadata["versions"] == ["3"]
    as_json = json.loads((model_dir / "manifest.json").read_text())
    assert (metadata["inputs"], metadata["outputs"]) == (as_json["inputs"], as_json["outputs"])
    assert written.inputs[0].shape == (-1, 64)
