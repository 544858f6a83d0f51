"""A real PyTorch export (graph plus `<name>.onnx.data`) is packaged and served from its model directory.

torch is not in the project's venv (its Linux wheel brings about 5 GB of CUDA libraries): the test runs
model/export_torch.py with TORCH_PYTHON, a Python that has torch and onnxscript, or with this one when it has them,
and skips, saying so, when neither does.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
import pytest
from model_server import manifest

EXPORT = Path(__file__).resolve().parents[2] / "model" / "export_torch.py"


def _torch_python() -> str:
    configured = os.environ.get("TORCH_PYTHON", "")
    if configured:
        return configured
    if importlib.util.find_spec("torch") and importlib.util.find_spec("onnxscript"):
        return sys.executable
    reason = (
        "torch is not installed: `make torch-venv`, or set TORCH_PYTHON to a Python with torch and onnxscript, "
        "to run the real export"
    )
    # .ci/run builds the venv and says so: there a missing torch is a failure, not a skip.
    if os.environ.get("ML_PLATFORM_REQUIRE_TORCH") == "1":
        pytest.fail(f"CI must run the real PyTorch export, but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def torch_export(tmp_path_factory) -> tuple[Path, dict]:
    """model/export_torch.py's files (wine.onnx, wine.onnx.data) and its sample of torch's own outputs."""
    python = _torch_python()
    out = tmp_path_factory.mktemp("torch")
    subprocess.run(
        [python, str(EXPORT), "--out", str(out / "wine.onnx"), "--sample", str(out / "sample.json")],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return out / "wine.onnx", json.loads((out / "sample.json").read_text())


def test_torchs_exporter_writes_the_weights_beside_the_graph(torch_export):
    graph, _ = torch_export
    assert sorted(p.name for p in graph.parent.iterdir()) == ["sample.json", "wine.onnx", "wine.onnx.data"]
    built = manifest.build_manifest(graph, "wine", "1")
    assert list(built.files) == ["wine.onnx", "wine.onnx.data"]
    assert [(t.name, t.datatype, t.shape) for t in built.inputs] == [("input", "FP32", (-1, 13))]
    assert [(t.name, t.datatype, t.shape) for t in built.outputs] == [("probabilities", "FP32", (-1, 3))]


def test_a_torch_export_serves_from_its_model_directory_as_torch_and_onnx_runtime_compute(
    start_server, tmp_path, torch_export
):
    graph, sample = torch_export
    model_dir = tmp_path / "model"
    manifest.write_artifact(graph, model_dir, "wine", "1")
    server = start_server(MODEL_DIR=str(model_dir))
    server.wait_for("/v2/health/ready")
    rows = np.array(sample["input"], dtype=np.float32)
    body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": list(rows.shape), "data": rows.ravel().tolist()}]}
    response = httpx.post(f"{server.url}/v2/models/wine/infer", json=body)
    assert response.status_code == 200, response.text
    (output,) = response.json()["outputs"]
    served = np.array(output["data"], dtype=np.float32).reshape(output["shape"])
    (expected,) = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"]).run(None, {"input": rows})
    np.testing.assert_allclose(served, expected, rtol=1e-6)
    np.testing.assert_allclose(served, np.array(sample["probabilities"]), atol=1e-6)


def test_a_torch_export_without_its_data_file_cannot_be_packaged(tmp_path, torch_export):
    graph, _ = torch_export
    alone = tmp_path / "wine.onnx"
    alone.write_bytes(graph.read_bytes())
    with pytest.raises(manifest.ManifestError, match=r"external data file wine\.onnx\.data is missing"):
        manifest.build_manifest(alone, "wine", "1")
