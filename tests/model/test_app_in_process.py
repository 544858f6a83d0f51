"""The ASGI app driven in-process: body limits, a client gone, micro-batching, CPUs and settings.

Readiness and the model's state: test_model_state.py."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from model_server.app import ModelServerApp
from model_server.cpu import available_cpus, cgroup_cpu_limit
from model_server.onnx_model import OnnxModel
from model_server.settings import DEFAULT_MODEL_PATH, Settings, load_settings

ARTIFACT = Path(__file__).resolve().parents[2] / "model" / "artifacts" / "breast-cancer.onnx"


async def call(app, method, path, body=b""):
    """One HTTP request through the ASGI interface: (status, parsed JSON body)."""
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    headers = [(b"content-length", str(len(body)).encode())]
    await app({"type": "http", "method": method, "path": path, "headers": headers}, receive, send)
    return sent[0]["status"], json.loads(sent[1]["body"])


class CountingModel(OnnxModel):
    """The example model, counting calls and the rows of each."""

    def __init__(self, path):
        super().__init__(path)
        self.calls: list[int] = []

    def predict(self, inputs):
        self.calls.append(len(inputs["input"]))
        return super().predict(inputs)


def _loaded_app(batch_max_rows, requests_in_progress=None):
    model = CountingModel(ARTIFACT)
    app = ModelServerApp(model, Settings(batch_max_rows=batch_max_rows), requests_in_progress=requests_in_progress)
    return model, app


def test_a_chunked_body_over_the_limit_gets_413_even_when_it_arrives_in_one_message():
    async def scenario():
        model = OnnxModel(ARTIFACT)
        app = ModelServerApp(model, Settings(max_body_bytes=1024))
        await app.load_model()
        row = {"name": "input", "datatype": "FP32", "shape": [1, 30], "data": [1.0] * 30}
        body = json.dumps({"inputs": [row], "id": "x" * 2000}).encode()  # valid, but 2 kB: over the 1 kB limit
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        sent = []

        async def receive():
            return messages.pop(0)

        async def send(message):
            sent.append(message)

        # No Content-Length header: the body came chunked, and uvicorn hands it over whole.
        scope = {"type": "http", "method": "POST", "path": "/v2/models/breast-cancer/infer", "headers": []}
        await app(scope, receive, send)
        return sent[0]["status"], json.loads(sent[1]["body"])

    status, body = asyncio.run(scenario())
    assert status == 413 and "MAX_BODY_BYTES" in body["error"]


def test_a_client_gone_before_its_body_arrived_is_counted_as_an_infer_499_and_gets_no_answer():
    async def scenario():
        app = ModelServerApp(OnnxModel(ARTIFACT), Settings())
        await app.load_model()
        sent = []

        async def receive():
            return {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/v2/models/breast-cancer/infer", "headers": []}
        await app(scope, receive, send)
        return sent, app.metrics.exposition().decode()

    sent, metrics = asyncio.run(scenario())
    assert sent == []
    assert 'model_server_requests_total{endpoint="infer",status="499"} 1.0' in metrics


def test_concurrent_requests_share_model_calls_and_each_gets_its_own_rows():
    features = np.random.default_rng(0).uniform(0, 100, size=(40, 30)).astype(np.float32)
    sizes = [1, 3, 1, 2, 5, 1, 1, 4, 2, 1]  # 21 rows in 10 requests

    def body(rows):
        return json.dumps(
            {"inputs": [{"name": "input", "datatype": "FP32", "shape": list(rows.shape), "data": rows.tolist()}]}
        ).encode()

    async def scenario(batch_max_rows, requests_in_progress=None):
        model, app = _loaded_app(batch_max_rows, requests_in_progress)
        await app.load_model()
        model.calls.clear()
        starts = np.cumsum([0, *sizes])
        replies = await asyncio.gather(
            *(
                call(app, "POST", "/v2/models/breast-cancer/infer", body(features[a:b]))
                for a, b in itertools.pairwise(starts)
            )
        )
        return model.calls, replies

    batched_calls, batched = asyncio.run(scenario(8))
    single_calls, single = asyncio.run(scenario(0))
    assert single_calls == sizes  # batching off: one call per request
    alone_calls, alone = asyncio.run(scenario(8, requests_in_progress=lambda: 1))
    assert alone_calls == sizes and alone == single  # the server says each request is alone: no waiting, no merging
    assert len(batched_calls) < len(sizes) and max(batched_calls) <= 8 and sum(batched_calls) == sum(sizes)
    assert batched == single  # every request got exactly its own rows back
    for (status, reply), rows in zip(batched, sizes, strict=True):
        assert status == 200 and reply["outputs"][0]["shape"] == [rows]


def test_cgroup_quota_caps_the_cpu_count(tmp_path):
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("max 100000\n")
    assert cgroup_cpu_limit(cpu_max) is None
    cpu_max.write_text("150000 100000\n")
    assert cgroup_cpu_limit(cpu_max) == 1.5
    assert available_cpus(cpu_max) == min(2, len(__import__("os").sched_getaffinity(0)))
    cpu_max.write_text("50000 100000\n")
    assert available_cpus(cpu_max) == 1
    assert cgroup_cpu_limit(tmp_path / "absent") is None


def test_settings_defaults_and_overrides():
    defaults = load_settings({})
    assert (defaults.port, defaults.model_name, defaults.model_version) == (8080, "breast-cancer", "1")
    assert defaults.model_path == DEFAULT_MODEL_PATH and DEFAULT_MODEL_PATH.name == "breast-cancer.onnx"
    assert defaults.model_threads == available_cpus()
    assert defaults.host is None  # every address
    assert load_settings({"HOST": "[::1]"}).host == load_settings({"HOST": " ::1 "}).host == "::1"
    custom = load_settings({"PORT": "9000", "MODEL_PATH": "/m/x.onnx", "MODEL_THREADS": "3", "LOG_LEVEL": "DEBUG"})
    assert (custom.port, str(custom.model_path), custom.model_threads, custom.log_level) == (
        9000,
        "/m/x.onnx",
        3,
        "debug",
    )


@pytest.mark.parametrize("variable", ["PORT", "MAX_BODY_BYTES", "BATCH_MAX_ROWS", "SHUTDOWN_TIMEOUT_SECONDS"])
def test_settings_errors_name_the_variable(variable):
    from model_server.settings import SettingsError

    with pytest.raises(SettingsError, match=variable):
        load_settings({variable: "-5"})
