"""The standard-library ONNX reader sees what ONNX Runtime and the onnx package see."""

from __future__ import annotations

from pathlib import Path

import onnx
import onnxruntime as ort
import pytest
from model_server.datatypes import ONNX_TO_V2
from model_server.onnx_file import ELEM_TYPE_TO_V2, NotOnnxError, read_onnx
from onnx.external_data_helper import _get_all_tensors, uses_external_data

from tests.model.onnx_models import external_data_model, string_label_classifier

ARTIFACT = Path(__file__).resolve().parents[2] / "model" / "artifacts" / "breast-cancer.onnx"


def _models(tmp_path: Path) -> list[Path]:
    string_label_classifier(tmp_path / "strings.onnx")
    return [ARTIFACT, tmp_path / "strings.onnx", external_data_model(tmp_path, "ext")]


def test_inputs_and_outputs_are_those_onnx_runtime_reports(tmp_path):
    for path in _models(tmp_path):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        read = read_onnx(path)

        def reported(nodes):
            return [(n.name, ONNX_TO_V2[n.type], [d if isinstance(d, int) else -1 for d in n.shape]) for n in nodes]

        def ours(values):
            return [(v.name, ELEM_TYPE_TO_V2[v.elem_type], list(v.shape)) for v in values]

        assert ours(read.inputs) == reported(session.get_inputs()), path
        assert ours(read.outputs) == reported(session.get_outputs()), path


def test_external_data_locations_are_those_the_onnx_package_finds(tmp_path):
    for path in _models(tmp_path):
        model = onnx.load(str(path), load_external_data=False)
        expected = {
            entry.value
            for tensor in _get_all_tensors(model)
            if uses_external_data(tensor)
            for entry in tensor.external_data
            if entry.key == "location"
        }
        assert set(read_onnx(path).external_data) == expected, path
    assert read_onnx(tmp_path / "ext.onnx").external_data == ("ext.onnx.data",)


def test_a_location_outside_the_model_directory_is_refused(tmp_path):
    path = external_data_model(tmp_path, "ext")
    model = onnx.load(str(path), load_external_data=False)
    for entry in model.graph.initializer[0].external_data:
        if entry.key == "location":
            entry.value = "../elsewhere.data"
    onnx.save_model(model, str(path))
    with pytest.raises(NotOnnxError, match="'../elsewhere.data' is not a relative path inside"):
        read_onnx(path)
