"""The ONNX runtime: any ONNX model file, served with ONNX Runtime on the CPU.

Session settings follow ONNX Runtime's guidance for latency-bound serving on a small CPU share: one intra-op thread
per granted core, sequential execution (no inter-op pool), no spinning threads (idle cores stay idle), all graph
optimizations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from model_server.datatypes import ONNX_TO_V2, V2_TO_NUMPY
from model_server.runtime import (
    InferenceError,
    ModelLoadError,
    ModelRuntime,
    TensorSpec,
)

# ORT raises these for inputs it rejects (wrong type, shape or value): the caller's fault, not the server's.
_CLIENT_ERRORS = tuple(
    getattr(ort.capi.onnxruntime_pybind11_state, name)
    for name in ("InvalidArgument", "InvalidGraph")
    if hasattr(ort.capi.onnxruntime_pybind11_state, name)
)


def session_options(threads: int) -> ort.SessionOptions:
    """ONNX Runtime options for serving with `threads` CPUs."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only: ORT's own warnings are not JSON and would break the log stream
    return options


def _tensor_spec(node, kind: str) -> TensorSpec:
    datatype = ONNX_TO_V2.get(node.type)
    if datatype is None:
        hint = " (a scikit-learn classifier: export it with options={'zipmap': False})" if "map" in node.type else ""
        raise ModelLoadError(
            f"{kind} {node.name!r} has type {node.type}, which the Open Inference Protocol cannot carry{hint}"
        )
    # Symbolic or unknown dimensions (None, "batch") are dynamic: -1.
    shape = tuple(dim if isinstance(dim, int) and dim >= 0 else -1 for dim in (node.shape or ()))
    return TensorSpec(name=node.name, datatype=datatype, dtype=V2_TO_NUMPY[datatype], shape=shape)


class OnnxModel(ModelRuntime):
    """An ONNX model file served with ONNX Runtime's CPU execution provider."""

    platform = "onnxruntime_onnx"

    def __init__(self, path: Path, threads: int = 1):
        super().__init__()
        self.path = Path(path)
        self.threads = threads
        self._session: ort.InferenceSession | None = None
        self._output_names: list[str] = []
        # Reused: without one, every call builds its own (measured: 1.5 us of the example model's 12 us per call).
        self._run_options = ort.RunOptions()

    def load(self) -> None:
        """Open the file with ONNX Runtime and read the inputs and outputs from the graph."""
        if not self.path.is_file():
            raise ModelLoadError(f"model file {self.path} does not exist or is not a file")
        try:
            session = ort.InferenceSession(
                str(self.path), sess_options=session_options(self.threads), providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # ORT raises several unrelated types for unreadable models
            raise ModelLoadError(f"ONNX Runtime cannot load {self.path}: {error}") from error
        self.inputs = tuple(_tensor_spec(node, "input") for node in session.get_inputs())
        self.outputs = tuple(_tensor_spec(node, "output") for node in session.get_outputs())
        self._output_names = [spec.name for spec in self.outputs]
        self._session = session

    def predict(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the session once; every output is returned."""
        if self._session is None:
            raise InferenceError("the model is not loaded")
        try:
            results = self._session.run(self._output_names, inputs, self._run_options)
        except _CLIENT_ERRORS as error:
            raise InferenceError(f"the model rejected the input: {error}", client_error=True) from error
        except Exception as error:
            raise InferenceError(f"the model failed: {error}") from error
        return dict(zip(self._output_names, results, strict=True))
