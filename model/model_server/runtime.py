"""The model runtime interface: what the protocol and HTTP layers need from a model, whatever its format.

A new runtime (another file format, another engine) is a small subclass of `ModelRuntime`: `load()` fills in
`inputs` and `outputs`, and `predict()` maps named input arrays to named output arrays. Nothing else changes.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

import numpy as np


class ModelLoadError(RuntimeError):
    """The model file cannot be served; the message says why (logged, and the server never becomes ready)."""


class InferenceError(RuntimeError):
    """The model refused or failed a prediction; `client_error` is True when the input was at fault."""

    def __init__(self, message: str, client_error: bool = False):
        super().__init__(message)
        self.client_error = client_error


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a model: V2 datatype (e.g. FP32), NumPy dtype, and shape (-1 for a dynamic dim)."""

    name: str
    datatype: str
    dtype: np.dtype
    shape: tuple[int, ...]
    #: True when the first dimension is dynamic, i.e. the tensor carries any number of rows (derived from shape).
    batched: bool = field(init=False, compare=False)

    def __post_init__(self) -> None:
        # A plain attribute, not a property: the request parser reads it on every request.
        object.__setattr__(self, "batched", bool(self.shape) and self.shape[0] == -1)


class ModelRuntime(abc.ABC):
    """A loaded model: metadata read from the model itself, and a predict function over NumPy arrays."""

    #: The platform name reported in V2 model metadata, e.g. "onnxruntime_onnx".
    platform: str = ""

    def __init__(self) -> None:
        self.inputs: tuple[TensorSpec, ...] = ()
        self.outputs: tuple[TensorSpec, ...] = ()

    @abc.abstractmethod
    def load(self) -> None:
        """Load the model and fill `inputs` and `outputs`; raise `ModelLoadError` saying why it cannot be served."""

    @abc.abstractmethod
    def predict(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the model on validated inputs (one array per input); return every output by name.

        Raise `InferenceError` when the model rejects or fails the call.
        """

    @property
    def batchable(self) -> bool:
        """True when rows of several requests may be stacked into one call: every tensor has a dynamic first dim."""
        return bool(self.inputs) and all(spec.batched for spec in (*self.inputs, *self.outputs))

    def warm_up(self) -> None:
        """Run one prediction on zeros, or empty strings (one row where a dimension is dynamic), so the first request
        is not slow."""
        self.predict({spec.name: _sample(spec) for spec in self.inputs})


def _sample(spec: TensorSpec) -> np.ndarray:
    shape = tuple(1 if dim < 0 else dim for dim in spec.shape)
    if spec.dtype.kind == "O":  # BYTES: strings
        return np.full(shape, "", dtype=object)
    return np.zeros(shape, dtype=spec.dtype)
