"""The example models in models/, each served from a model directory as a pod gets it, answer what ONNX Runtime
itself computes from the same file, over the whole data set."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
import pytest
from model_server import manifest

MODELS = Path(__file__).resolve().parents[2] / "models"


def _data(name: str) -> np.ndarray:
    import train  # model/train.py

    features, _ = train.EXAMPLES[name].load()
    return features


@pytest.mark.parametrize(
    ("name", "datatypes"),
    [
        ("breast-cancer", {"label": "INT64", "probabilities": "FP32"}),
        ("iris", {"label": "BYTES", "probabilities": "FP32"}),
        ("diabetes", {"prediction": "FP32"}),
    ],
)
def test_each_example_served_from_its_directory_answers_what_onnx_runtime_computes(
    start_server, tmp_path, name, datatypes
):
    model_dir = tmp_path / "model"
    manifest.write_artifact(MODELS / f"{name}.onnx", model_dir, name, "1.0.0")
    server = start_server(MODEL_DIR=str(model_dir), MAX_REQUEST_ROWS="600", MAX_BODY_BYTES="400000")
    server.wait_for("/v2/health/ready")
    features = _data(name)
    body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": list(features.shape),
                        "data": features.ravel().tolist()}]}  # fmt: skip
    response = httpx.post(f"{server.url}/v2/models/{name}/versions/1.0.0/infer", json=body, timeout=30)
    assert response.status_code == 200, response.text
    session = ort.InferenceSession(str(MODELS / f"{name}.onnx"), providers=["CPUExecutionProvider"])
    expected = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"input": features}), strict=True))
    outputs = {output["name"]: output for output in response.json()["outputs"]}
    assert {output_name: output["datatype"] for output_name, output in outputs.items()} == datatypes
    for output_name, want in expected.items():
        got = outputs[output_name]
        assert got["shape"] == list(want.shape)
        if want.dtype.kind == "O":  # strings
            assert got["data"] == want.ravel().tolist()
        else:
            # A tree ensemble sums in another order on another thread count: the last float digits may differ.
            np.testing.assert_allclose(np.array(got["data"], dtype=want.dtype), want.ravel(), rtol=1e-5, atol=1e-6)
