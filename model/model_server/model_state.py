"""The model's state in the server: loading, ready with a `LoadedModel`, failed with the reason, or stopped.

Everything that exists only once the model has loaded and answered a warm-up prediction (its signature, the fast
request decoder built from it, the metadata response, the micro-batcher) is one `LoadedModel`, built in one go by
`load_model`. A handler either holds a whole `LoadedModel` or answers 503: there are no optional attributes to
check one by one, and no moment when some are set and others not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from model_server import protocol
from model_server.batching import MicroBatcher
from model_server.protocol import ModelSignature
from model_server.request_decoder import RequestDecoder
from model_server.runtime import InferenceError, ModelLoadError, ModelRuntime
from model_server.settings import Settings


@dataclass(frozen=True)
class LoadedModel:
    """A model that loaded and warmed up, with all the request path needs; it exists only once loading succeeded."""

    runtime: ModelRuntime
    signature: ModelSignature
    #: The fast path for infer requests, built from `signature` with the same row limit as the full parser.
    decoder: RequestDecoder
    #: MAX_REQUEST_ROWS: the row limit `decoder` was built with, given to the full parser too.
    max_request_rows: int
    #: The V2 model metadata response body: it never changes, so it is built once.
    metadata: bytes
    batcher: MicroBatcher


def load_model(
    runtime: ModelRuntime, settings: Settings, requests_in_progress: Callable[[], int] | None = None
) -> LoadedModel:
    """Load `runtime`, warm it up with one prediction, and build what serving needs. It blocks (run it in a worker
    thread) and raises `ModelLoadError` saying why the model cannot be served."""
    runtime.load()
    try:
        runtime.warm_up()
    except InferenceError as error:
        raise ModelLoadError(f"warm-up prediction failed: {error}") from error
    # Built here, inside the load's error handling: a signature the request decoder cannot take is logged, never
    # silent.
    signature = ModelSignature(runtime.inputs, runtime.outputs)
    return LoadedModel(
        runtime=runtime,
        signature=signature,
        decoder=RequestDecoder(signature, settings.max_request_rows),
        max_request_rows=settings.max_request_rows,
        metadata=protocol.model_metadata(settings.model_name, [settings.model_version], runtime.platform, signature),
        batcher=MicroBatcher(runtime, settings.batch_max_rows, requests_in_progress),
    )


@dataclass(frozen=True)
class Loading:
    """The model is loading in the background, or the server has not started to load it yet."""


@dataclass(frozen=True)
class Ready:
    """The model loaded and warmed up: requests are served with `model`."""

    model: LoadedModel


@dataclass(frozen=True)
class Failed:
    """The model cannot be served, for `reason` (logged once); the server never becomes ready."""

    reason: str


@dataclass(frozen=True)
class Stopped:
    """The server is shutting down: no longer ready, whatever the model's state was."""


#: What the server knows of its model; the HTTP layer answers readiness, metadata and infer from it alone.
ModelState = Loading | Ready | Failed | Stopped
