"""The example models: ONNX predictions equal scikit-learn's, and the committed files are the ones train.py makes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

ARTIFACT = Path(__file__).resolve().parents[2] / "model" / "artifacts" / "breast-cancer.onnx"
TRAIN = ARTIFACT.parents[1] / "train.py"


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


MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.fixture(scope="module")
def fitted():
    """Each example trained afresh: name -> (fitted scikit-learn model, features, labels or targets)."""
    import train

    return {name: train.build(example) for name, example in train.EXAMPLES.items()}


def test_the_examples_are_a_binary_a_string_label_and_a_regression_model(fitted):
    _, _, cancer = fitted["breast-cancer"]
    _, _, iris = fitted["iris"]
    _, _, diabetes = fitted["diabetes"]
    assert sorted(set(cancer.tolist())) == [0, 1]
    assert sorted(set(iris.tolist())) == ["setosa", "versicolor", "virginica"]
    assert diabetes.dtype == np.float32 and len(set(diabetes.tolist())) > 100


@pytest.mark.parametrize("name", ["breast-cancer", "iris"])
def test_committed_classifiers_predict_what_a_fresh_training_predicts(fitted, name):
    model, features, _ = fitted[name]
    session = ort.InferenceSession(str(MODELS / f"{name}.onnx"), providers=["CPUExecutionProvider"])
    label, probabilities = session.run(["label", "probabilities"], {"input": features})
    np.testing.assert_array_equal(label, model.predict(features))
    np.testing.assert_allclose(probabilities, model.predict_proba(features), atol=1e-5)


def test_committed_regressor_predicts_what_a_fresh_training_predicts(fitted):
    model, features, _ = fitted["diabetes"]
    session = ort.InferenceSession(str(MODELS / "diabetes.onnx"), providers=["CPUExecutionProvider"])
    (prediction,) = session.run(["prediction"], {"input": features})
    assert prediction.shape == (len(features), 1)
    np.testing.assert_allclose(prediction[:, 0], model.predict(features), rtol=1e-4)


def test_the_image_baked_example_is_the_same_bytes_as_the_stack_example():
    assert (MODELS / "breast-cancer.onnx").read_bytes() == ARTIFACT.read_bytes()


def test_training_writes_the_same_bytes_whatever_pythons_hash_seed(tmp_path):
    # skl2onnx lists opsets in set order; train.py sorts them so that a retraining does not change the files.
    outputs = []
    for seed in ("1", "2"):
        out = tmp_path / seed / "diabetes.onnx"
        subprocess.run(
            [sys.executable, str(TRAIN), "--model", "diabetes", "--out", str(out)],
            env={**os.environ, "PYTHONHASHSEED": seed},
            check=True,
            capture_output=True,
        )
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


def test_training_cli_writes_every_example_with_all(tmp_path):
    import train

    assert train.main(["--all", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["breast-cancer.onnx", "diabetes.onnx", "iris.onnx"]
