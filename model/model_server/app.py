"""The HTTP layer: a raw ASGI application with explicit routes, kept thin on purpose.

Routes (Open Inference Protocol V2, plus Prometheus):
    GET  /v2/health/live, /v2/health/ready, /v2, /metrics
    GET  /v2/models/{name}[/versions/{version}]          model metadata
    GET  /v2/models/{name}[/versions/{version}]/ready    model readiness
    POST /v2/models/{name}[/versions/{version}]/infer    inference

The model loads in a background thread when the server starts, so liveness answers at once; readiness turns true
only after a warm-up prediction succeeded, and never when the model cannot be loaded (the log says why). What the
handlers know of the model is one `ModelState` (`model_state`): loading, ready with a `LoadedModel`, failed, stopped.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable

import orjson

from model_server import protocol
from model_server.infer_request import decode_infer_request
from model_server.metrics import Metrics
from model_server.model_state import Failed, Loading, ModelState, Ready, Stopped, load_model
from model_server.protocol import ProtocolError
from model_server.runtime import InferenceError, ModelLoadError, ModelRuntime
from model_server.settings import Settings

logger = logging.getLogger("model_server")

JSON = b"application/json"
_LIVE = orjson.dumps({"live": True})
_READY = orjson.dumps({"ready": True})
_NOT_READY = orjson.dumps({"ready": False})
_MODELS_PREFIX = "/v2/models/"


class ClientDisconnected(Exception):
    """The client went away before its request body arrived."""


# A handler's result: status, body, content type, extra headers.
Response = tuple[int, bytes, bytes, list[tuple[bytes, bytes]]]


def _json(status: int, body: bytes) -> Response:
    return status, body, JSON, []


def _error(status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None) -> Response:
    return status, protocol.error_body(message), JSON, headers or []


class ModelServerApp:
    """The ASGI application serving one model."""

    def __init__(
        self,
        runtime: ModelRuntime,
        settings: Settings,
        metrics: Metrics | None = None,
        requests_in_progress: Callable[[], int] | None = None,
    ):
        """`requests_in_progress` (optional) counts the requests the HTTP server is handling, for micro-batching."""
        self.runtime = runtime
        self._requests_in_progress = requests_in_progress
        self.settings = settings
        self.metrics = metrics or Metrics(
            settings.model_name, settings.model_version, runtime.platform, str(settings.model_path)
        )
        self.state: ModelState = Loading()
        self._loading: asyncio.Task | None = None
        # The hot path, matched before any parsing of the URL.
        model_path = f"{_MODELS_PREFIX}{settings.model_name}"
        self._infer_paths = frozenset((f"{model_path}/infer", f"{model_path}/versions/{settings.model_version}/infer"))
        self._static_routes = {
            "/v2/health/live": ("health_live", self._live),
            "/v2/health/ready": ("health_ready", self._health_ready),
            "/v2": ("server_metadata", self._server_metadata),
            "/metrics": ("metrics", self._metrics),
        }

    # -- ASGI entry point ------------------------------------------------------------------------------------

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope, receive, send) -> None:
        started = time.perf_counter()
        metrics = self.metrics
        metrics.in_flight += 1
        endpoint = "unknown"
        status = 500
        try:
            try:
                endpoint, response = await self._route(scope, receive)
            except ClientDisconnected:
                # Only infer reads a body, so only infer can lose its client before answering.
                endpoint, status = "infer", 499  # nginx's code for "client closed request"; nothing is sent
                return
            except Exception as error:  # a bug: log it whole, answer 500 with JSON, keep serving
                logger.exception("unhandled error on %s %s", scope["method"], scope["path"])
                response = _error(500, f"internal server error: {type(error).__name__}")
            status, body, content_type, headers = response
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", content_type),
                        (b"content-length", b"%d" % len(body)),
                        *headers,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
        finally:
            metrics.in_flight -= 1
            metrics.observe(endpoint, status, time.perf_counter() - started)

    async def _route(self, scope, receive) -> tuple[str, Response]:
        path = scope["path"]
        method = scope["method"]
        if method == "POST" and path in self._infer_paths:
            return "infer", await self._infer_or_error(scope, receive)
        static = self._static_routes.get(path)
        if static is not None:
            endpoint, handler = static
            if method != "GET":
                return endpoint, _error(405, f"{path} accepts GET, not {method}", [(b"allow", b"GET")])
            return endpoint, handler()
        if not path.startswith(_MODELS_PREFIX):
            return "unknown", _error(404, f"no endpoint at {path}; see the Open Inference Protocol V2 paths")

        parts = path[len(_MODELS_PREFIX) :].split("/")
        name, rest = parts[0], parts[1:]
        version = None
        if len(rest) >= 2 and rest[0] == "versions":
            version, rest = rest[1], rest[2:]
        action = rest[0] if len(rest) == 1 else ("" if not rest else None)
        if action not in ("", "ready", "infer"):
            return "unknown", _error(404, f"no endpoint at {path}; see the Open Inference Protocol V2 paths")
        endpoint = {"": "model_metadata", "ready": "model_ready", "infer": "infer"}[action]
        if name != self.settings.model_name:
            return endpoint, _error(
                404,
                f"unknown model {name!r}; this server serves model {self.settings.model_name!r} "
                f"version {self.settings.model_version!r}",
            )
        if version is not None and version != self.settings.model_version:
            return endpoint, _error(
                404,
                f"unknown version {version!r} of model {name!r}; this server serves version "
                f"{self.settings.model_version!r}",
            )
        allowed = "POST" if action == "infer" else "GET"
        if method != allowed:
            return endpoint, _error(405, f"{path} accepts {allowed}, not {method}", [(b"allow", allowed.encode())])
        if action == "infer":
            return endpoint, await self._infer_or_error(scope, receive)
        if action == "ready":
            return endpoint, self._model_ready()
        return endpoint, self._model_metadata()

    # -- handlers --------------------------------------------------------------------------------------------

    def _live(self) -> Response:
        return _json(200, _LIVE)

    def _health_ready(self) -> Response:
        return _json(200, _READY) if isinstance(self.state, Ready) else _json(503, _NOT_READY)

    def _server_metadata(self) -> Response:
        return _json(200, orjson.dumps({"name": "model-server", "version": "1", "extensions": []}))

    def _metrics(self) -> Response:
        return 200, self.metrics.exposition(), self.metrics.content_type.encode(), []

    def _model_ready(self) -> Response:
        ready = isinstance(self.state, Ready)
        body = orjson.dumps({"name": self.settings.model_name, "ready": ready})
        return _json(200 if ready else 503, body)

    def _model_metadata(self) -> Response:
        state = self.state
        if not isinstance(state, Ready):
            return self._not_ready(state)
        return _json(200, state.model.metadata)

    def _not_ready(self, state: ModelState) -> Response:
        if isinstance(state, Failed):
            why = f": {state.reason}"
        elif isinstance(state, Stopped):
            why = ": the server is shutting down"
        else:
            why = " yet: it is loading"
        return _error(503, f"model {self.settings.model_name!r} is not ready{why}")

    async def _infer_or_error(self, scope, receive) -> Response:
        try:
            return await self._infer(scope, receive)
        except ProtocolError as error:
            # After a 413 the rest of the body may still be on its way: close instead of reading it.
            close = [(b"connection", b"close")] if error.status == 413 else []
            return _error(error.status, error.message, close)

    async def _infer(self, scope, receive) -> Response:
        state = self.state
        if not isinstance(state, Ready):
            return self._not_ready(state)
        model = state.model  # the model this request is served with, whatever happens to the state meanwhile
        body = await self._read_body(scope, receive)
        request = decode_infer_request(body, model)
        try:
            results = await model.batcher.predict(request.inputs, request.rows)
        except InferenceError as error:
            if error.client_error:
                return _error(400, str(error))
            logger.error("inference failed: %s", error)
            return _error(500, str(error))
        self.metrics.inference_rows += request.rows
        response = protocol.infer_response(
            self.settings.model_name, self.settings.model_version, request, results, model.signature
        )
        return _json(200, response)

    async def _read_body(self, scope, receive) -> bytes:
        """The request body, refused with 413 from Content-Length before it is read, or once it grows too big."""
        limit = self.settings.max_body_bytes
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit():
                    raise ProtocolError(400, "the Content-Length header must be a number of bytes")
                if int(value) > limit:
                    raise ProtocolError(
                        413, f"request body of {int(value)} bytes is over the limit of {limit} (MAX_BODY_BYTES)"
                    )
            elif name == b"inference-header-content-length":
                raise ProtocolError(400, "binary tensor data is not supported; send the tensors as JSON")
        # Without Content-Length (chunked), even the first message may hold more than the limit: count every one.
        chunks, size, more_body = [], 0, True
        while more_body:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise ProtocolError(413, f"request body is over the limit of {limit} bytes (MAX_BODY_BYTES)")
            chunks.append(chunk)
            more_body = message.get("more_body", False)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    # -- lifespan: load the model in the background ----------------------------------------------------------

    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._loading = asyncio.get_running_loop().create_task(self.load_model())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.state = Stopped()
                self.metrics.model_ready = 0
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def load_model(self) -> None:
        """Load and warm up the model in a worker thread; become ready on success, log why not on failure."""
        started = time.perf_counter()
        load = functools.partial(load_model, self.runtime, self.settings, self._requests_in_progress)
        try:
            loaded = await asyncio.get_running_loop().run_in_executor(None, load)
        except ModelLoadError as error:
            self._fail(str(error))
            return
        except Exception as error:  # anything else a runtime raises while loading is a broken model as well
            logger.debug("model load failure", exc_info=True)
            self._fail(f"{type(error).__name__}: {error}")
            return
        if not isinstance(self.state, Loading):  # the server began shutting down meanwhile: stay stopped
            return
        self.state = Ready(loaded)
        self.metrics.batcher = loaded.batcher
        self.metrics.model_ready = 1
        logger.info(
            "model ready",
            extra={
                "model": self.settings.model_name,
                "version": self.settings.model_version,
                "path": str(self.settings.model_path),
                "load_seconds": round(time.perf_counter() - started, 4),
                "inputs": [protocol.spec_summary(spec) for spec in loaded.signature.inputs],
                "outputs": [protocol.spec_summary(spec) for spec in loaded.signature.outputs],
                "threads": self.settings.model_threads,
                "batching": loaded.batcher.max_rows > 0,
            },
        )

    def _fail(self, reason: str) -> None:
        if isinstance(self.state, Loading):
            self.state = Failed(reason)
        logger.error(
            "model %s cannot be served, the server will not become ready: %s",
            self.settings.model_path,
            reason,
            extra={"model": self.settings.model_name, "path": str(self.settings.model_path)},
        )
