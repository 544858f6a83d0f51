"""Train the example models, reproducibly, and export them to ONNX.

Three kinds of model, each on a data set scikit-learn ships (no download), with fixed seeds, exported by skl2onnx
with tensor outputs only (classifiers without the ZipMap operator: a list of maps is not what the Open Inference
Protocol carries, and is much slower):

- `breast-cancer`: a binary classifier, RandomForestClassifier (100 trees) on 30 features; `label` INT64 (0 or 1)
  and `probabilities` FP32 [-1, 2]. The model the server image bakes in (model/artifacts/breast-cancer.onnx).
- `iris`: a multi-class classifier trained on STRING labels (setosa, versicolor, virginica): StandardScaler and
  LogisticRegression in a pipeline, on 4 features; `label` is tensor(string), V2 BYTES, and `probabilities` FP32
  [-1, 3] in the order of `classes`.
- `diabetes`: a regressor, GradientBoostingRegressor (100 trees of depth 3) on 10 features; `prediction` FP32
  [-1, 1], the disease progression one year on.

Every input is `input`, FP32 [-1, n_features].

    python model/train.py [--model breast-cancer|iris|diabetes] [--out PATH] [--joblib PATH]
    python model/train.py --all models      # every example, as models/<name>.onnx

`--joblib` also saves the fitted scikit-learn model (the benchmark serves it with MLServer); it is not committed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SEED = 42
N_ESTIMATORS = 100
MODEL_NAME = "breast-cancer"
DEFAULT_OUT = Path(__file__).resolve().parent / "artifacts" / f"{MODEL_NAME}.onnx"
# The ONNX input and outputs keep these names; the server reads them from the graph.
INPUT_NAME = "input"
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


@dataclass(frozen=True)
class Example:
    """One example model: how to load its data, fit it, and what its ONNX graph is called in docs and tests."""

    name: str
    load: Callable[[], tuple]
    fit: Callable[..., object]
    description: str
    classifier: bool


def load_data():
    """Return (X, y) of the breast-cancer data set as float32 features and int64 labels."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    return data.data.astype("float32"), data.target.astype("int64")


def train(features, labels):
    """Fit the breast-cancer model: 100 trees with a fixed seed, single-threaded so the result is reproducible."""
    from sklearn.ensemble import RandomForestClassifier

    model = RandomForestClassifier(n_estimators=N_ESTIMATORS, random_state=SEED, n_jobs=1)
    model.fit(features, labels)
    return model


def load_iris_data():
    """Return (X, y) of the iris data set: float32 features and the species NAMES as labels (numpy str)."""
    from sklearn.datasets import load_iris

    data = load_iris()
    return data.data.astype("float32"), data.target_names[data.target]


def train_iris(features, labels):
    """Fit the iris model: scaling, then a multinomial logistic regression (lbfgs: deterministic)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=SEED)).fit(features, labels)


def load_diabetes_data():
    """Return (X, y) of the diabetes data set as float32 features and float32 targets."""
    from sklearn.datasets import load_diabetes

    data = load_diabetes()
    return data.data.astype("float32"), data.target.astype("float32")


def train_diabetes(features, targets):
    """Fit the diabetes model: 100 boosted trees of depth 3 with a fixed seed."""
    from sklearn.ensemble import GradientBoostingRegressor

    return GradientBoostingRegressor(n_estimators=N_ESTIMATORS, max_depth=3, random_state=SEED).fit(features, targets)


EXAMPLES = {
    "breast-cancer": Example(
        "breast-cancer", load_data, train, f"RandomForestClassifier(n_estimators={N_ESTIMATORS}, random_state={SEED})",
        classifier=True,
    ),
    "iris": Example(
        "iris", load_iris_data, train_iris, f"StandardScaler + LogisticRegression(random_state={SEED}), string labels",
        classifier=True,
    ),
    "diabetes": Example(
        "diabetes", load_diabetes_data, train_diabetes,
        f"GradientBoostingRegressor(n_estimators={N_ESTIMATORS}, max_depth=3, random_state={SEED})",
        classifier=False,
    ),
}  # fmt: skip


def to_onnx_bytes(model, n_features: int, example: Example = EXAMPLES[MODEL_NAME]) -> bytes:
    """Export a fitted model to ONNX bytes: float32 input [N, n_features], tensor outputs (no ZipMap); a regressor's
    one output is named `prediction`."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    options = {}
    final_types = None
    if example.classifier:
        # The classifier itself (the last step of a pipeline) takes the option.
        estimator = model.steps[-1][1] if hasattr(model, "steps") else model
        options = {id(estimator): {"zipmap": False}}
    else:
        final_types = [("prediction", FloatTensorType([None, 1]))]
    onnx_model = to_onnx(
        model,
        initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
        options=options,
        final_types=final_types,
        target_opset=TARGET_OPSET,
    )
    onnx_model.doc_string = f"{example.name}: {example.description}"
    # skl2onnx lists the opsets in set order, which changes with PYTHONHASHSEED: sorted, the bytes do not.
    opsets = sorted(onnx_model.opset_import, key=lambda opset: opset.domain, reverse=True)
    del onnx_model.opset_import[:]
    onnx_model.opset_import.extend(opsets)
    return onnx_model.SerializeToString()


def build(example: Example):
    """Train `example` on its data: (fitted model, features, labels or targets)."""
    features, labels = example.load()
    return example.fit(features, labels), features, labels


def write(example: Example, out: Path, joblib_path: Path | None = None) -> None:
    """Train `example` and write its ONNX file to `out` (and the fitted model to `joblib_path`)."""
    model, features, _ = build(example)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(to_onnx_bytes(model, features.shape[1], example))
    print(f"wrote {out}")
    if joblib_path:
        import joblib

        joblib_path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(model, joblib_path)
        print(f"wrote {joblib_path}")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", choices=sorted(EXAMPLES), default=MODEL_NAME, help="which example to train")
    parser.add_argument("--out", type=Path, help=f"where to write the ONNX model (default: {DEFAULT_OUT} for "
                        f"{MODEL_NAME}, ./<model>.onnx for the others)")  # fmt: skip
    parser.add_argument("--joblib", type=Path, help="also save the fitted scikit-learn model here (joblib)")
    parser.add_argument("--all", type=Path, metavar="DIR", help="train every example into DIR/<name>.onnx")
    args = parser.parse_args(argv)

    if args.all:
        if args.out or args.joblib:
            parser.error("--all writes DIR/<name>.onnx for every example; it takes no --out or --joblib")
        for example in EXAMPLES.values():
            write(example, args.all / f"{example.name}.onnx")
        return 0
    out = args.out or (DEFAULT_OUT if args.model == MODEL_NAME else Path(f"{args.model}.onnx"))
    write(EXAMPLES[args.model], out, args.joblib)
    return 0


if __name__ == "__main__":
    sys.exit(main())
