"""The Open Inference Protocol over HTTP, against the real server in a subprocess: answers and client mistakes."""

from __future__ import annotations

import json
import socket

import httpx
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

INFER = "/v2/models/breast-cancer/infer"
ROW = [17.99, 10.38, 122.8, 1001.0, 0.1184, 0.2776, 0.3001, 0.1471, 0.2419, 0.07871, 1.095, 0.9053, 8.589, 153.4,
       0.006399, 0.04904, 0.05373, 0.01587, 0.03003, 0.006193, 25.38, 17.33, 184.6, 2019.0, 0.1622, 0.6656, 0.7119,
       0.2654, 0.4601, 0.1189]  # fmt: skip


def tensor(data, shape=None, name="input", datatype="FP32"):
    return {"name": name, "datatype": datatype, "shape": shape or [1, len(data)], "data": data}


def post(server, body, path=INFER, **kwargs):
    if isinstance(body, (dict, list)):
        return httpx.post(server.url + path, json=body, timeout=10, **kwargs)
    return httpx.post(server.url + path, content=body, timeout=10, **kwargs)


def test_liveness_and_readiness_answer_200(server):
    assert httpx.get(server.url + "/v2/health/live").json() == {"live": True}
    assert httpx.get(server.url + "/v2/health/ready").json() == {"ready": True}
    assert httpx.get(server.url + "/v2/models/breast-cancer/ready").json() == {"name": "breast-cancer", "ready": True}
    assert httpx.get(server.url + "/v2/models/breast-cancer/versions/1/ready").status_code == 200


def test_metadata_lists_inputs_and_outputs_of_the_graph(server):
    for path in ("/v2/models/breast-cancer", "/v2/models/breast-cancer/versions/1"):
        assert httpx.get(server.url + path).json() == {
            "name": "breast-cancer",
            "versions": ["1"],
            "platform": "onnxruntime_onnx",
            "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 30]}],
            "outputs": [
                {"name": "label", "datatype": "INT64", "shape": [-1]},
                {"name": "probabilities", "datatype": "FP32", "shape": [-1, 2]},
            ],
        }


def test_predictions_over_http_equal_scikit_learn_on_the_whole_data_set(server, trained):
    _path, model, features, _labels = trained
    body = {"id": "all-rows", "inputs": [tensor(features.tolist(), shape=list(features.shape))]}
    response = post(server, body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["model_name"], answer["model_version"], answer["id"]) == ("breast-cancer", "1", "all-rows")
    outputs = {output["name"]: output for output in answer["outputs"]}
    assert outputs["label"]["shape"] == [len(features)]
    np.testing.assert_array_equal(outputs["label"]["data"], model.predict(features))
    probabilities = np.array(outputs["probabilities"]["data"]).reshape(outputs["probabilities"]["shape"])
    np.testing.assert_allclose(probabilities, model.predict_proba(features), atol=1e-5)


def test_versioned_infer_path_and_requested_outputs(server):
    body = {"inputs": [tensor(ROW)], "outputs": [{"name": "probabilities"}]}
    answer = post(server, body, path="/v2/models/breast-cancer/versions/1/infer").json()
    assert [output["name"] for output in answer["outputs"]] == ["probabilities"]
    assert answer["outputs"][0]["datatype"] == "FP32" and answer["outputs"][0]["shape"] == [1, 2]
    assert answer["model_version"] == "1"


def test_nested_data_is_accepted_row_major(server):
    flat = post(server, {"inputs": [tensor(ROW + ROW, shape=[2, 30])]}).json()
    nested = post(server, {"inputs": [tensor([ROW, ROW], shape=[2, 30])]}).json()
    assert flat["outputs"] == nested["outputs"]


BAD_REQUESTS = {
    "malformed JSON": (b'{"inputs": [', "not valid JSON"),
    "body not an object": ([1, 2], "JSON object"),
    "missing inputs": ({"id": "x"}, "'inputs' must be a non-empty list"),
    "empty inputs": ({"inputs": []}, "'input' (FP32, shape [-1, 30])"),
    "input not an object": ({"inputs": [3]}, "inputs[0] must be an object"),
    "wrong input name": ({"inputs": [tensor(ROW, name="features")]}, "expected 'input' (FP32, shape [-1, 30])"),
    "duplicate input": ({"inputs": [tensor(ROW), tensor(ROW)]}, "appears more than once"),
    "wrong datatype": ({"inputs": [tensor(ROW, datatype="FP64")]}, "'FP64' does not match"),
    "unknown datatype": ({"inputs": [tensor(ROW, datatype="FLOAT")]}, "not a V2 datatype"),
    "datatype not a string": ({"inputs": [tensor(ROW, datatype=["FP32"])]}, "not a V2 datatype"),
    "wrong rank": ({"inputs": [tensor(ROW, shape=[30])]}, "shape [30] does not match"),
    "wrong feature count": ({"inputs": [tensor(ROW[:29], shape=[1, 29])]}, "shape [-1, 30]"),
    "negative dimension": ({"inputs": [tensor(ROW, shape=[-1, 30])]}, "does not match"),
    "zero rows": ({"inputs": [tensor([], shape=[0, 30])]}, "at least 1 row"),
    "data shorter than shape": ({"inputs": [tensor(ROW, shape=[2, 30])]}, "has 30 values but shape [2, 30] needs 60"),
    "data not a list": ({"inputs": [{**tensor(ROW), "data": "1,2,3"}]}, "data must be a list of numbers"),
    "non-numeric value": ({"inputs": [tensor(ROW[:29] + ["x"])]}, "only numbers (FP32)"),
    "null value": ({"inputs": [tensor(ROW[:29] + [None])]}, "only numbers (FP32)"),
    "uneven nested rows": ({"inputs": [tensor([ROW, ROW[:29]], shape=[2, 30])]}, "uneven"),
    "value too large for FP32": ({"inputs": [tensor(ROW[:29] + [1e39])]}, "finite numbers"),
    "too many rows": ({"inputs": [tensor(ROW * 601, shape=[601, 30])]}, "at most 600 rows"),
    "unknown requested output": ({"inputs": [tensor(ROW)], "outputs": [{"name": "score"}]}, "'label', 'probabilities'"),
    "output name not a string": ({"inputs": [tensor(ROW)], "outputs": [{"name": ["label"]}]}, "not an output"),
    "id not a string": ({"id": 7, "inputs": [tensor(ROW)]}, "'id' must be a string"),
    "invalid UTF-8 in the id": (b'{"id": "\xff", "inputs": [%s]}' % json.dumps(tensor(ROW)).encode(), "not valid JSON"),
    "number out of range in parameters": (
        b'{"parameters": {"a": 1e400}, "inputs": [%s]}' % json.dumps(tensor(ROW)).encode(),
        "not valid JSON",
    ),
    "nesting too deep in parameters": (
        b'{"parameters": {"a": %s}, "inputs": [%s]}' % (b"[" * 2000 + b"]" * 2000, json.dumps(tensor(ROW)).encode()),
        "depth limit",
    ),
}


@pytest.mark.parametrize("body, expected", BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_client_mistakes_get_400_with_a_json_error_saying_what_was_expected(server, body, expected):
    response = post(server, body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    assert expected in response.json()["error"]


def test_binary_tensor_extension_is_refused_with_400(server):
    response = post(server, b"{}", headers={"Inference-Header-Content-Length": "2"})
    assert response.status_code == 400
    assert "binary tensor data is not supported" in response.json()["error"]


def test_body_over_the_limit_is_refused_with_413_before_it_is_read(server):
    # Announce 10 MB, send none of it: the answer must come from the headers alone.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            f"POST {INFER} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {10_000_000}\r\n\r\n".encode()
        )
        reply = b""
        while chunk := sock.recv(65536):  # the server closes the connection after a 413
            reply += chunk
        reply = reply.decode()
    status_line, _, rest = reply.partition("\r\n")
    assert status_line == "HTTP/1.1 413 Request Entity Too Large"
    assert "over the limit of 400000 (MAX_BODY_BYTES)" in rest


def test_chunked_body_over_the_limit_is_refused_with_413(server):
    def chunks():
        for _ in range(100):
            yield b" " * 8192

    response = httpx.post(server.url + INFER, content=chunks(), timeout=10)
    assert response.status_code == 413
    assert "MAX_BODY_BYTES" in response.json()["error"]


@pytest.mark.parametrize(
    "path, expected",
    [
        ("/v2/models/iris/infer", "unknown model 'iris'"),
        ("/v2/models/iris", "unknown model 'iris'"),
        ("/v2/models/breast-cancer/versions/2/infer", "unknown version '2'"),
        ("/v2/models/breast-cancer/versions/2/ready", "unknown version '2'"),
        ("/v2/models/breast-cancer/predict", "no endpoint"),
        ("/v1/models/breast-cancer:predict", "no endpoint"),
    ],
)
def test_unknown_model_version_or_path_gets_404(server, path, expected):
    method = "POST" if path.endswith(("infer", "predict")) else "GET"
    response = httpx.request(method, server.url + path, json={"inputs": [tensor(ROW)]})
    assert response.status_code == 404
    assert expected in response.json()["error"]


@pytest.mark.parametrize(
    "method, path, allowed",
    [
        ("GET", INFER, "POST"),
        ("PUT", INFER, "POST"),
        ("POST", "/v2/health/ready", "GET"),
        ("DELETE", "/v2/models/breast-cancer", "GET"),
        ("POST", "/metrics", "GET"),
    ],
)
def test_wrong_method_gets_405_with_allow_header(server, method, path, allowed):
    response = httpx.request(method, server.url + path)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert f"accepts {allowed}" in response.json()["error"]


def test_metrics_count_requests_by_status_and_describe_the_model(server):
    post(server, {"inputs": [tensor(ROW)]})
    post(server, b"not json")
    text = httpx.get(server.url + "/metrics").text
    assert 'model_server_requests_total{endpoint="infer",status="200"}' in text
    assert 'model_server_requests_total{endpoint="infer",status="400"}' in text
    assert 'model_server_request_duration_seconds_bucket{endpoint="infer",le="0.001"}' in text
    assert "model_server_requests_in_flight 1.0" in text  # this very scrape
    assert "model_server_model_ready 1.0" in text
    info = next(line for line in text.splitlines() if line.startswith("model_server_model_info{"))
    assert 'name="breast-cancer"' in info and 'version="1"' in info and 'platform="onnxruntime_onnx"' in info
    assert info.endswith(" 1.0")
    rows = float(
        next(line for line in text.splitlines() if line.startswith("model_server_inference_rows_total ")).split()[1]
    )
    calls = float(
        next(line for line in text.splitlines() if line.startswith("model_server_model_calls_total ")).split()[1]
    )
    assert rows >= 1 and 1 <= calls <= rows + 1  # + the warm-up call


def _integer_model(path):
    """A model unlike the example: INT64 input "x" [batch, 3], outputs "y" = x + 1 and "half" = x / 2 as FP64."""
    one = helper.make_tensor("one", TensorProto.INT64, [1], [1])
    two = helper.make_tensor("two", TensorProto.DOUBLE, [1], [2.0])
    graph = helper.make_graph(
        [
            helper.make_node("Add", ["x", "one"], ["y"]),
            helper.make_node("Cast", ["x"], ["xd"], to=TensorProto.DOUBLE),
            helper.make_node("Div", ["xd", "two"], ["half"]),
        ],
        "integers",
        [helper.make_tensor_value_info("x", TensorProto.INT64, ["batch", 3])],
        [
            helper.make_tensor_value_info("y", TensorProto.INT64, ["batch", 3]),
            helper.make_tensor_value_info("half", TensorProto.DOUBLE, ["batch", 3]),
        ],
        initializer=[one, two],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


def test_any_onnx_model_is_served_with_metadata_from_its_graph(start_server, tmp_path):
    _integer_model(tmp_path / "ints.onnx")
    server = start_server(MODEL_PATH=str(tmp_path / "ints.onnx"), MODEL_NAME="ints", MODEL_VERSION="7")
    server.wait_for("/v2/health/ready")
    assert httpx.get(server.url + "/v2/models/ints/versions/7").json() == {
        "name": "ints",
        "versions": ["7"],
        "platform": "onnxruntime_onnx",
        "inputs": [{"name": "x", "datatype": "INT64", "shape": [-1, 3]}],
        "outputs": [
            {"name": "y", "datatype": "INT64", "shape": [-1, 3]},
            {"name": "half", "datatype": "FP64", "shape": [-1, 3]},
        ],
    }
    good = {"inputs": [{"name": "x", "datatype": "INT64", "shape": [2, 3], "data": [1, 2, 3, 4, 5, 6]}]}
    answer = httpx.post(server.url + "/v2/models/ints/infer", json=good).json()
    assert answer["model_name"] == "ints" and answer["model_version"] == "7"
    assert answer["outputs"][0] == {"name": "y", "datatype": "INT64", "shape": [2, 3], "data": [2, 3, 4, 5, 6, 7]}
    assert answer["outputs"][1]["data"] == [0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
    floats = {"inputs": [{"name": "x", "datatype": "INT64", "shape": [1, 3], "data": [1.5, 2, 3]}]}
    response = httpx.post(server.url + "/v2/models/ints/infer", json=floats)
    assert response.status_code == 400 and "only integers (INT64)" in response.json()["error"]
    assert httpx.get(server.url + "/v2/models/breast-cancer").status_code == 404
