"""The Open Inference Protocol (KServe V2) over JSON: request validation and response building.

Pure functions over bytes and NumPy arrays, with no HTTP and no model in sight: they take the model's tensor specs
and return arrays or bytes, or raise `ProtocolError` with the HTTP status and a message saying what was expected.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import orjson

from model_server.datatypes import V2_DATATYPES
from model_server.runtime import TensorSpec

_JSON_NUMPY = orjson.OPT_SERIALIZE_NUMPY
# Which NumPy kinds (as parsed from JSON) each V2 datatype accepts: floats take any number, integers only integers.
_ACCEPTED_KINDS = {"b": "b", "i": "iu", "u": "iu", "f": "iuf"}
_KIND_WORDS = {"b": "true/false values", "i": "integers", "u": "integers", "f": "numbers", "O": "strings"}


class ProtocolError(Exception):
    """A client mistake: `status` is the HTTP status (4xx) and the message says what was expected."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class ModelSignature:
    """The tensors a model takes and returns, with lookups the request parser needs."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    input_by_name: dict[str, TensorSpec] = field(init=False, repr=False, compare=False)
    output_by_name: dict[str, TensorSpec] = field(init=False, repr=False, compare=False)
    output_names: tuple[str, ...] = field(init=False, repr=False, compare=False)
    #: The BYTES (string) outputs, which the response writes as lists: one set lookup per output on the hot path.
    bytes_outputs: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_by_name", {spec.name: spec for spec in self.inputs})
        object.__setattr__(self, "output_by_name", {spec.name: spec for spec in self.outputs})
        object.__setattr__(self, "output_names", tuple(spec.name for spec in self.outputs))
        object.__setattr__(self, "bytes_outputs", frozenset(s.name for s in self.outputs if s.datatype == "BYTES"))


class InferRequest(NamedTuple):
    """A validated inference request: one array per model input, and the outputs to return."""

    inputs: dict[str, np.ndarray]
    outputs: tuple[str, ...]
    rows: int
    id: str | None = None


def spec_summary(spec: TensorSpec) -> str:
    """'input (FP32, shape [-1, 30])': how error messages name an expected tensor (-1 means any size)."""
    return f"{spec.name!r} ({spec.datatype}, shape {list(spec.shape)})"


def _expected_inputs(signature: ModelSignature) -> str:
    return ", ".join(spec_summary(spec) for spec in signature.inputs)


def parse_infer_request(body: bytes, signature: ModelSignature, max_rows: int) -> InferRequest:
    """Parse and validate a V2 JSON infer request body against the model's signature."""
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise ProtocolError(400, f"request body is not valid JSON: {error}") from None
    if not isinstance(request, dict):
        raise ProtocolError(400, "request body must be a JSON object with an 'inputs' list")
    raw_inputs = request.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise ProtocolError(
            400, f"'inputs' must be a non-empty list of tensors; this model expects {_expected_inputs(signature)}"
        )
    request_id = request.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise ProtocolError(400, "'id' must be a string")

    arrays: dict[str, np.ndarray] = {}
    rows = 0
    for index, raw in enumerate(raw_inputs):
        spec, array = _parse_input(index, raw, signature, max_rows)
        if spec.name in arrays:
            raise ProtocolError(400, f"inputs[{index}].name {spec.name!r} appears more than once")
        arrays[spec.name] = array
        if spec.batched:
            rows = max(rows, array.shape[0])
    if len(arrays) != len(signature.inputs):
        missing = [spec_summary(spec) for spec in signature.inputs if spec.name not in arrays]
        raise ProtocolError(400, f"missing input(s): {', '.join(missing)}")

    return InferRequest(
        inputs=arrays, outputs=_parse_outputs(request.get("outputs"), signature), rows=rows, id=request_id
    )


def _parse_input(index: int, raw: object, signature: ModelSignature, max_rows: int) -> tuple[TensorSpec, np.ndarray]:
    # This runs for every request: the happy path avoids generators and formatting; messages are built on error.
    if type(raw) is not dict:
        raise ProtocolError(400, f"inputs[{index}] must be an object with name, datatype, shape and data")
    name = raw.get("name")
    spec = signature.input_by_name.get(name) if type(name) is str else None
    if spec is None:
        raise ProtocolError(
            400, f"inputs[{index}].name {name!r} is not an input of this model; expected {_expected_inputs(signature)}"
        )
    datatype = raw.get("datatype")
    if datatype != spec.datatype:
        known = "" if type(datatype) is str and datatype in V2_DATATYPES else " (not a V2 datatype)"
        raise ProtocolError(
            400, f"inputs[{index}].datatype {datatype!r}{known} does not match: input {spec_summary(spec)}"
        )

    shape = raw.get("shape")
    expected = check_shape(index, shape, spec, max_rows)

    data = raw.get("data")
    kind = spec.dtype.kind
    if type(data) is not list:
        raise ProtocolError(400, f"inputs[{index}].data must be a list of {_KIND_WORDS[kind]}")
    if kind == "O":
        return spec, _strings(index, data, shape, expected)
    try:
        parsed = np.array(data)
    except ValueError:
        raise ProtocolError(400, f"inputs[{index}].data is a nested list of uneven lengths") from None
    if parsed.dtype.kind not in _ACCEPTED_KINDS[kind]:
        raise ProtocolError(400, f"inputs[{index}].data must hold only {_KIND_WORDS[kind]} ({spec.datatype})")
    if parsed.size != expected:
        raise ProtocolError(400, f"inputs[{index}].data has {parsed.size} values but shape {shape} needs {expected}")
    return spec, _convert(index, parsed.reshape(shape), spec)


def check_shape(index: int, shape: object, spec: TensorSpec, max_rows: int) -> int:
    """How many values `shape` holds, once it fits `spec` (rank, fixed dimensions) and the row limit; else a
    `ProtocolError` saying what was expected."""
    if type(shape) is not list or len(shape) != len(spec.shape):
        raise ProtocolError(400, f"inputs[{index}].shape {shape!r} does not match: input {spec_summary(spec)}")
    expected = 1
    for dim, want in zip(shape, spec.shape, strict=True):  # lengths checked above
        if type(dim) is not int or dim < 0 or (want >= 0 and dim != want):
            raise ProtocolError(400, f"inputs[{index}].shape {shape!r} does not match: input {spec_summary(spec)}")
        expected *= dim
    if spec.batched:
        if shape[0] < 1:
            raise ProtocolError(400, f"inputs[{index}].shape[0] must be at least 1 row")
        if shape[0] > max_rows:
            raise ProtocolError(
                400, f"inputs[{index}] has {shape[0]} rows; at most {max_rows} rows per request (MAX_REQUEST_ROWS)"
            )
    return expected


def _strings(index: int, data: list, shape: Any, expected: int) -> np.ndarray:
    """BYTES values: JSON strings, flat or nested, as an object array of str (what ONNX Runtime takes)."""
    parsed = np.array(data, dtype=object)
    # Checked one by one: NumPy would turn numbers into strings, and keeps uneven nested lists as list objects.
    if not all(type(value) is str for value in parsed.flat):
        if any(type(value) is list for value in parsed.flat):
            raise ProtocolError(400, f"inputs[{index}].data is a nested list of uneven lengths")
        raise ProtocolError(400, f"inputs[{index}].data must hold only strings (BYTES)")
    if parsed.size != expected:
        raise ProtocolError(400, f"inputs[{index}].data has {parsed.size} values but shape {shape} needs {expected}")
    return parsed.reshape(shape)


def _convert(index: int, parsed: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Cast parsed JSON values to the input's dtype, refusing values the dtype cannot hold."""
    kind = spec.dtype.kind
    if kind in "iu" and parsed.size:
        info = np.iinfo(spec.dtype)
        if parsed.min() < info.min or parsed.max() > info.max:
            raise ProtocolError(400, f"inputs[{index}].data has values outside the {spec.datatype} range")
    if kind != "f":
        return parsed.astype(spec.dtype, copy=False)
    if parsed.dtype.kind in "iu":
        # Integers become floats through float64, as every JSON number does, so all-integer data rounds the same
        # as data mixing integers and decimals (and as the fast path, `request_decoder`).
        parsed = parsed.astype(np.float64)
    # JSON carries no NaN or infinity, but a cast to FP32/FP16 turns values too large for it into infinity. That
    # overflow is expected and answered below, so NumPy need not warn. A finite sum of squares (one cheap dot
    # product) proves every value finite; only an infinite one (an infinity, or merely large values) needs the
    # exact check.
    with np.errstate(over="ignore"):
        array = parsed.astype(spec.dtype, copy=False)
        flat = array.reshape(-1)
        finite = math.isfinite(flat.dot(flat)) or np.isfinite(flat).all()
    if not finite:
        raise ProtocolError(
            400, f"inputs[{index}].data must hold finite numbers; some are too large for {spec.datatype}"
        )
    return array


def _parse_outputs(raw: object, signature: ModelSignature) -> tuple[str, ...]:
    if raw is None:
        return signature.output_names
    expected = ", ".join(repr(spec.name) for spec in signature.outputs)
    if not isinstance(raw, list) or not raw:
        raise ProtocolError(400, f"'outputs' must be a non-empty list of objects with a name, one of {expected}")
    names = []
    for index, item in enumerate(raw):
        name = item.get("name") if isinstance(item, dict) else None
        if type(name) is not str or name not in signature.output_by_name:
            raise ProtocolError(
                400, f"outputs[{index}].name {name!r} is not an output of this model; expected one of {expected}"
            )
        names.append(name)
    return tuple(names)


def infer_response(
    model_name: str,
    model_version: str,
    request: InferRequest,
    results: dict[str, np.ndarray],
    signature: ModelSignature,
) -> bytes:
    """The V2 JSON response for one request: the requested outputs, with model name, version and request id."""
    outputs = []
    bytes_outputs = signature.bytes_outputs
    for name in request.outputs:
        array = np.ascontiguousarray(results[name])
        data = array.reshape(-1)
        outputs.append(
            {
                "name": name,
                "datatype": signature.output_by_name[name].datatype,
                "shape": array.shape,
                # BYTES: orjson writes no object arrays, so the strings go as a list (ONNX Runtime's are str).
                "data": data.tolist() if name in bytes_outputs else data,
            }
        )
    response = {"model_name": model_name, "model_version": model_version, "outputs": outputs}
    if request.id is not None:
        response["id"] = request.id
    return orjson.dumps(response, option=_JSON_NUMPY)


def model_metadata(name: str, versions: Sequence[str], platform: str, signature: ModelSignature) -> bytes:
    """The V2 model metadata response: inputs and outputs with name, datatype and shape (-1: dynamic)."""

    def tensors(specs: Sequence[TensorSpec]) -> list[dict]:
        return [{"name": s.name, "datatype": s.datatype, "shape": list(s.shape)} for s in specs]

    return orjson.dumps(
        {
            "name": name,
            "versions": list(versions),
            "platform": platform,
            "inputs": tensors(signature.inputs),
            "outputs": tensors(signature.outputs),
        }
    )


def error_body(message: str) -> bytes:
    """The V2 error response body: {"error": message}."""
    return orjson.dumps({"error": message})
