"""The example model: ONNX predictions equal scikit-learn's, and the committed artifact is the one train.py makes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

ARTIFACT = Path(__file__).resolve().parents[2] / "model" / "artifacts" / "breast-cancer.onnx"


def _onnx_predict(path, features):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    label, probabilities = session.run(["label", "probabilities"], {"input": features})
    return label, probabilities


def test_onnx_predictions_equal_scikit_learn_on_the_whole_data_set(trained):
    onnx_path, model, features, _labels = trained
    label, probabilities = _onnx_predict(onnx_path, features)
    np.testing.assert_array_equal(label, model.predict(features))
    np.testing.assert_allclose(probabilities, model.predict_proba(features), atol=1e-5)


def test_committed_artifact_predicts_what_a_fresh_training_predicts(trained):
    _onnx_path, model, features, _labels = trained
    label, probabilities = _onnx_predict(ARTIFACT, features)
    np.testing.assert_array_equal(label, model.predict(features))
    np.testing.assert_allclose(probabilities, model.predict_proba(features), atol=1e-5)


def test_exported_graph_has_tensor_outputs_without_zipmap(trained):
    onnx_path, *_ = trained
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    assert [(o.name, o.type) for o in session.get_outputs()] == [
        ("label", "tensor(int64)"),
        ("probabilities", "tensor(float)"),
    ]
    assert [(i.name, i.type, i.shape[1]) for i in session.get_inputs()] == [("input", "tensor(float)", 30)]


def test_training_cli_writes_the_onnx_and_joblib_files(tmp_path):
    import joblib
    import train

    assert train.main(["--out", str(tmp_path / "m.onnx"), "--joblib", str(tmp_path / "m.joblib")]) == 0
    features, _ = train.load_data()
    restored = joblib.load(tmp_path / "m.joblib")
    label, _ = _onnx_predict(tmp_path / "m.onnx", features)
    np.testing.assert_array_equal(label, restored.predict(features))
