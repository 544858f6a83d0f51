"""String tensors travel as V2 BYTES: JSON strings in `data`, in and out, on the fast path and the full parser alike."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import onnxruntime as ort

from tests.model.onnx_models import string_input_model, string_label_classifier


def test_a_string_label_classifier_answers_its_labels_as_bytes(start_server, tmp_path):
    path = tmp_path / "iris.onnx"
    model, features = string_label_classifier(path)
    server = start_server(MODEL_PATH=str(path), MODEL_NAME="iris")
    metadata = server.wait_for("/v2/models/iris").json()
    assert metadata["outputs"][0] == {"name": "label", "datatype": "BYTES", "shape": [-1]}
    flat = {"inputs": [{"name": "X", "datatype": "FP32", "shape": list(features.shape),
                        "data": features.ravel().tolist()}]}  # fmt: skip
    nested = {"inputs": [{"name": "X", "datatype": "FP32", "shape": list(features.shape),
                          "data": features.tolist()}]}  # fmt: skip
    answers = [httpx.post(f"{server.url}/v2/models/iris/infer", json=body) for body in (flat, nested)]
    assert [answer.status_code for answer in answers] == [200, 200]
    assert answers[0].json() == answers[1].json()  # the fast path (flat) and the full parser (nested) agree
    label = answers[0].json()["outputs"][0]
    expected, _ = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"X": features})
    assert label == {"name": "label", "datatype": "BYTES", "shape": [len(features)], "data": expected.tolist()}
    assert label["data"] == model.predict(features).tolist()
    assert set(label["data"]) == {"setosa", "versicolor", "virginica"}


def test_string_inputs_decode_alike_on_both_paths_and_reach_the_model_as_strings(start_server, tmp_path):
    path = tmp_path / "words.onnx"
    string_input_model(path)
    server = start_server(MODEL_PATH=str(path), MODEL_NAME="words")
    server.wait_for("/v2/health/ready")
    words = [["setosa", "🌸"], ["virginica", 'a "quoted" \\ word'], ["", "versicolor"]]
    flat = {"id": "w", "inputs": [{"name": "word", "datatype": "BYTES", "shape": [3, 2], "data": sum(words, [])}]}
    nested = {**flat, "inputs": [{**flat["inputs"][0], "data": words}]}
    answers = [httpx.post(f"{server.url}/v2/models/words/infer", json=body) for body in (flat, nested)]
    assert [answer.status_code for answer in answers] == [200, 200]
    assert answers[0].json() == answers[1].json()
    outputs = {output["name"]: output for output in answers[0].json()["outputs"]}
    assert outputs["code"] == {"name": "code", "datatype": "INT64", "shape": [3, 2], "data": [0, -1, 2, -1, -1, 1]}
    assert outputs["echo"] == {"name": "echo", "datatype": "BYTES", "shape": [3, 2], "data": sum(words, [])}


def test_numbers_for_a_bytes_input_are_a_400_saying_strings_are_expected(start_server, tmp_path):
    path = tmp_path / "words.onnx"
    string_input_model(path)
    server = start_server(MODEL_PATH=str(path), MODEL_NAME="words")
    server.wait_for("/v2/health/ready")
    body = {"inputs": [{"name": "word", "datatype": "BYTES", "shape": [1, 2], "data": ["setosa", 3]}]}
    response = httpx.post(f"{server.url}/v2/models/words/infer", json=body)
    assert response.status_code == 400
    assert response.json() == {"error": "inputs[0].data must hold only strings (BYTES)"}


def test_concurrent_string_requests_each_get_their_own_rows(start_server, tmp_path):
    path = tmp_path / "words.onnx"
    string_input_model(path)
    server = start_server(MODEL_PATH=str(path), MODEL_NAME="words")
    server.wait_for("/v2/health/ready")
    vocabulary = ["setosa", "versicolor", "virginica", "rose"]
    requests = [[[vocabulary[(i + j) % 4], f"request {i}"] for j in range(i % 3 + 1)] for i in range(24)]

    async def send_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url) as client:
            return await asyncio.gather(*(
                client.post("/v2/models/words/infer", json={"inputs": [
                    {"name": "word", "datatype": "BYTES", "shape": [len(rows), 2], "data": sum(rows, [])}]})
                for rows in requests
            ))  # fmt: skip

    for rows, response in zip(requests, asyncio.run(send_all()), strict=True):
        outputs = {output["name"]: output["data"] for output in response.json()["outputs"]}
        assert outputs["echo"] == sum(rows, [])
        codes = np.array(outputs["code"]).reshape(len(rows), 2)
        assert codes[:, 1].tolist() == [-1] * len(rows)
