"""Small ONNX models built by hand for the model server tests: external data, string outputs, ZipMap."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def external_data_model(directory: Path, name: str = "ext") -> Path:
    """`<name>.onnx` computing y = x @ w + 1 with w (64x64 FP32) in `<name>.onnx.data`: the layout PyTorch's exporter
    writes for large weights (`onnx.save_model(..., save_as_external_data=True, all_tensors_to_one_file=True)`)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(external_weights(), "w")
    one = numpy_helper.from_array(np.ones(64, dtype=np.float32), "one")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "one"], ["y"])],
        name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 64])],
        [weights, one],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = directory / f"{name}.onnx"
    onnx.save_model(
        model,
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=f"{name}.onnx.data",
        size_threshold=0,
    )
    return path


def external_weights() -> np.ndarray:
    """The weights `external_data_model` keeps outside its graph."""
    return (np.arange(64 * 64, dtype=np.float32).reshape(64, 64) % 7) / 7


def string_label_classifier(path: Path) -> tuple[object, np.ndarray]:
    """A logistic regression on string labels, exported without ZipMap: `label` is tensor(string).
    Returns (the fitted model, its features)."""
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    features = np.array([[0.0, 1.0], [1.0, 0.0], [0.9, 0.1], [0.1, 0.8], [0.5, 0.5], [2.0, 2.0]], dtype=np.float32)
    labels = ["setosa", "versicolor", "versicolor", "setosa", "virginica", "virginica"]
    model = LogisticRegression().fit(features, labels)
    exported = to_onnx(model, features, options={id(model): {"zipmap": False}}, target_opset={"": 17, "ai.onnx.ml": 3})
    path.write_bytes(exported.SerializeToString())
    return model, features


def zipmap_classifier(path: Path) -> None:
    """A scikit-learn classifier exported WITH ZipMap: its output is a sequence of maps, which V2 cannot carry."""
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    features = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.2]], dtype=np.float32)
    model = LogisticRegression().fit(features, [0, 1, 0])
    path.write_bytes(to_onnx(model, features, target_opset=17).SerializeToString())


def string_input_model(path: Path) -> None:
    """Strings in and out: `word` (tensor(string) [N, 2]) -> `code` (INT64, a LabelEncoder: setosa 0, versicolor 1,
    virginica 2, anything else -1) and `echo` (the words as they came)."""
    import onnx
    from onnx import TensorProto, helper

    encoder = helper.make_node(
        "LabelEncoder",
        ["word"],
        ["code"],
        domain="ai.onnx.ml",
        keys_strings=["setosa", "versicolor", "virginica"],
        values_int64s=[0, 1, 2],
        default_int64=-1,
    )
    graph = helper.make_graph(
        [encoder, helper.make_node("Identity", ["word"], ["echo"])],
        "words",
        [helper.make_tensor_value_info("word", TensorProto.STRING, ["batch", 2])],
        [
            helper.make_tensor_value_info("code", TensorProto.INT64, ["batch", 2]),
            helper.make_tensor_value_info("echo", TensorProto.STRING, ["batch", 2]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])
    model.ir_version = 8
    onnx.save_model(model, str(path))
