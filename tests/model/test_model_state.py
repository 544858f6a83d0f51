"""The model's state: not ready while loading, ready with a whole `LoadedModel` after warm-up, a failed load keeps
its reason and answers 503, shutdown is not ready; driven in-process through the ASGI app with fake runtimes."""

from __future__ import annotations

import asyncio
import dataclasses
import threading

import numpy as np
import pytest
from model_server import protocol
from model_server.app import ModelServerApp
from model_server.model_state import Failed, LoadedModel, Loading, Ready, Stopped, load_model
from model_server.runtime import InferenceError, ModelLoadError, ModelRuntime, TensorSpec
from model_server.settings import Settings

from tests.model.test_app_in_process import call

SETTINGS = Settings(model_name="fake")
INFER = "/v2/models/fake/infer"
BODY = b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [1.5, 2.5]}]}'


class GatedModel(ModelRuntime):
    """A fake runtime whose loading waits for a gate, and whose warm-up can be made to fail."""

    platform = "fake"

    def __init__(self, fail_warm_up: bool = False, load_error: Exception | None = None):
        super().__init__()
        self.gate = threading.Event()
        self.fail_warm_up = fail_warm_up
        self.load_error = load_error

    def load(self):
        self.gate.wait(10)
        if self.load_error is not None:
            raise self.load_error
        self.inputs = (TensorSpec("x", "FP32", np.dtype(np.float32), (-1, 2)),)
        self.outputs = (TensorSpec("y", "FP32", np.dtype(np.float32), (-1, 2)),)

    def predict(self, inputs):
        if self.fail_warm_up:
            raise InferenceError("the fake model always fails")
        return {"y": inputs["x"] * 2}


class Lifespan:
    """The ASGI lifespan protocol, as uvicorn drives it: start-up (the model loads in the background), shutdown."""

    def __init__(self, app: ModelServerApp):
        self.app = app
        self._inbox: asyncio.Queue = asyncio.Queue()
        self._sent: dict[str, asyncio.Event] = {
            "lifespan.startup.complete": asyncio.Event(),
            "lifespan.shutdown.complete": asyncio.Event(),
        }

    async def _send(self, message):
        self._sent[message["type"]].set()

    async def start(self) -> None:
        await self._inbox.put({"type": "lifespan.startup"})
        asyncio.get_running_loop().create_task(self.app({"type": "lifespan"}, self._inbox.get, self._send))
        await self._sent["lifespan.startup.complete"].wait()

    async def shut_down(self) -> None:
        await self._inbox.put({"type": "lifespan.shutdown"})
        await self._sent["lifespan.shutdown.complete"].wait()


async def not_ready_answers(app: ModelServerApp) -> dict[str, tuple[int, dict]]:
    """What every model endpoint answers, by endpoint."""
    return {
        "health ready": await call(app, "GET", "/v2/health/ready"),
        "model ready": await call(app, "GET", "/v2/models/fake/ready"),
        "metadata": await call(app, "GET", "/v2/models/fake"),
        "infer": await call(app, "POST", INFER, BODY),
    }


def test_not_ready_while_the_model_loads():
    async def scenario():
        model = GatedModel()
        app = ModelServerApp(model, SETTINGS)
        assert isinstance(app.state, Loading)
        await Lifespan(app).start()
        assert await call(app, "GET", "/v2/health/live") == (200, {"live": True})
        answers = await not_ready_answers(app)
        model.gate.set()
        await app._loading
        return answers, app

    answers, app = asyncio.run(scenario())
    loading = (503, {"error": "model 'fake' is not ready yet: it is loading"})
    assert answers == {
        "health ready": (503, {"ready": False}),
        "model ready": (503, {"name": "fake", "ready": False}),
        "metadata": loading,
        "infer": loading,
    }
    assert isinstance(app.state, Ready)  # once the gate opened


def test_ready_after_load_and_warm_up_with_one_whole_loaded_model():
    async def scenario():
        model = GatedModel()
        model.gate.set()
        app = ModelServerApp(model, SETTINGS)
        await Lifespan(app).start()
        await app._loading
        answers = {
            "health ready": await call(app, "GET", "/v2/health/ready"),
            "model ready": await call(app, "GET", "/v2/models/fake/ready"),
            "infer": await call(app, "POST", INFER, BODY),
        }
        return answers, app

    answers, app = asyncio.run(scenario())
    assert answers["health ready"] == (200, {"ready": True})
    assert answers["model ready"] == (200, {"name": "fake", "ready": True})
    status, reply = answers["infer"]
    assert status == 200 and reply["outputs"][0]["data"] == [3.0, 5.0]
    assert isinstance(app.state, Ready)
    loaded = app.state.model
    assert loaded.runtime is app.runtime and loaded.signature.input_by_name.keys() == {"x"}
    assert loaded.metadata == protocol.model_metadata("fake", ["1"], "fake", loaded.signature)
    assert app.metrics.batcher is loaded.batcher and app.metrics.model_ready == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded.decoder = None  # type: ignore[misc]  # what a ready server serves with cannot change under it


@pytest.mark.parametrize(
    "model, reason",
    [
        (GatedModel(fail_warm_up=True), "warm-up prediction failed: the fake model always fails"),
        (GatedModel(load_error=ModelLoadError("model file x.onnx does not exist")), "model file x.onnx does not exist"),
        (GatedModel(load_error=ValueError("a runtime's own error")), "ValueError: a runtime's own error"),
    ],
    ids=["warm-up fails", "load error", "any other error"],
)
def test_a_failed_load_keeps_its_reason_and_answers_503_for_good(model, reason):
    async def scenario():
        model.gate.set()
        app = ModelServerApp(model, SETTINGS)
        await Lifespan(app).start()
        await app._loading
        return await not_ready_answers(app), app

    answers, app = asyncio.run(scenario())
    assert app.state == Failed(reason)
    failed = (503, {"error": f"model 'fake' is not ready: {reason}"})
    assert answers == {
        "health ready": (503, {"ready": False}),
        "model ready": (503, {"name": "fake", "ready": False}),
        "metadata": failed,
        "infer": failed,
    }
    assert app.metrics.model_ready == 0


def test_shutdown_makes_a_ready_server_not_ready():
    async def scenario():
        model = GatedModel()
        model.gate.set()
        app = ModelServerApp(model, SETTINGS)
        lifespan = Lifespan(app)
        await lifespan.start()
        await app._loading
        await lifespan.shut_down()
        return await not_ready_answers(app), app

    answers, app = asyncio.run(scenario())
    assert isinstance(app.state, Stopped) and app.metrics.model_ready == 0
    assert answers["health ready"] == (503, {"ready": False})
    assert answers["infer"] == (503, {"error": "model 'fake' is not ready: the server is shutting down"})


def test_a_load_that_ends_after_shutdown_does_not_make_the_server_ready():
    async def scenario():
        model = GatedModel()
        app = ModelServerApp(model, SETTINGS)
        lifespan = Lifespan(app)
        await lifespan.start()
        await lifespan.shut_down()
        model.gate.set()
        await app._loading
        return app

    app = asyncio.run(scenario())
    assert isinstance(app.state, Stopped) and app.metrics.model_ready == 0


def test_load_model_builds_everything_serving_needs_from_the_runtime():
    model = GatedModel()
    model.gate.set()
    loaded = load_model(model, Settings(model_name="fake", max_request_rows=7, batch_max_rows=16))
    assert isinstance(loaded, LoadedModel)
    assert loaded.signature.inputs == model.inputs and loaded.signature.outputs == model.outputs
    assert loaded.max_request_rows == 7 and loaded.batcher.max_rows == 16
    eight_rows = b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [8, 2], "data": [%s]}]}' % b", ".join(
        [b"1"] * 16
    )
    assert loaded.decoder.decode(eight_rows) is None  # over the row limit it was built with: the full parser says so
