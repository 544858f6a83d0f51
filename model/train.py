"""Train the example model, reproducibly, and export it to ONNX.

A RandomForestClassifier (100 trees, fixed seed) on scikit-learn's bundled breast-cancer data set (30 features),
exported with skl2onnx without the ZipMap operator, so the model returns a plain float tensor of class
probabilities: that is what the Open Inference Protocol carries, and it is much faster than a list of maps.

    python model/train.py [--out model/artifacts/breast-cancer.onnx] [--joblib PATH]

`--joblib` also saves the fitted scikit-learn model (the benchmark serves it with MLServer); it is not committed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

MODEL_NAME = "breast-cancer"
SEED = 42
N_ESTIMATORS = 100
DEFAULT_OUT = Path(__file__).resolve().parent / "artifacts" / f"{MODEL_NAME}.onnx"
# The ONNX input and outputs keep these names; the server reads them from the graph.
INPUT_NAME = "input"


def load_data():
    """Return (X, y) of the breast-cancer data set as float32 features and int64 labels."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    return data.data.astype("float32"), data.target.astype("int64")


def train(features, labels):
    """Fit the example model: 100 trees with a fixed seed, single-threaded so the result is reproducible."""
    from sklearn.ensemble import RandomForestClassifier

    model = RandomForestClassifier(n_estimators=N_ESTIMATORS, random_state=SEED, n_jobs=1)
    model.fit(features, labels)
    return model


def to_onnx_bytes(model, n_features: int) -> bytes:
    """Export a fitted classifier to ONNX bytes: float32 input [N, n_features], tensor outputs, no ZipMap."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    onnx_model = to_onnx(
        model,
        initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
        options={id(model): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    onnx_model.doc_string = f"{MODEL_NAME}: RandomForestClassifier(n_estimators={N_ESTIMATORS}, random_state={SEED})"
    return onnx_model.SerializeToString()


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the ONNX model")
    parser.add_argument("--joblib", type=Path, help="also save the fitted scikit-learn model here (joblib)")
    args = parser.parse_args(argv)

    features, labels = load_data()
    model = train(features, labels)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(to_onnx_bytes(model, features.shape[1]))
    print(f"wrote {args.out}")
    if args.joblib:
        import joblib

        args.joblib.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(model, args.joblib)
        print(f"wrote {args.joblib}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
