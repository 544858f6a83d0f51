"""The fast path for infer requests: one typed msgspec decode validates the common request shape in C.

Per model, a msgspec schema is built from its signature: one tagged struct per input (the tag is the input's name),
whose `data` is a flat list of numbers already range-checked for the input's dtype (so an FP32 value cannot turn
into infinity when cast), or of strings for a BYTES input. Decoding, type and range checks then cost about as much
as a plain JSON parse, instead of several times more in Python. Unknown fields are refused rather than skipped,
because msgspec does not validate what it skips (a bad number or bad UTF-8 there must still be a 400); the
protocol's `parameters` are decoded and so validated. Anything the fast path does not take (nested or empty data, a
mistake of any kind) returns None, and `infer_request.decode_infer_request`, the one entry point, hands it to
`protocol.parse_infer_request`: it accepts every valid form and words every error.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

import msgspec
import numpy as np

from model_server.protocol import InferRequest, ModelSignature, ProtocolError, check_shape
from model_server.runtime import TensorSpec

# The protocol's optional `parameters` object, on the request, each input and each requested output.
_PARAMETERS = ("parameters", dict[str, Any] | None, None)
# The largest integer msgspec can bound; bigger UINT64 values take the full parser.
_INT64_MAX = 2**63 - 1


class _Output(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    parameters: dict[str, Any] | None = None


def _element_type(spec: TensorSpec) -> object:
    """The msgspec type of one value of `spec`: a number bounded to what its dtype holds, or a string (BYTES)."""
    kind = spec.dtype.kind
    if kind == "b":
        return bool
    if kind == "O":
        return str
    if kind in "iu":
        info = np.iinfo(spec.dtype)
        return Annotated[int, msgspec.Meta(ge=int(info.min), le=min(int(info.max), _INT64_MAX))]
    largest = float(np.finfo(spec.dtype).max)
    return Annotated[float, msgspec.Meta(ge=-largest, le=largest)]


def _input_struct(spec: TensorSpec, tagged: bool) -> type:
    """A struct for one input. Tagged by the input's name, several of them make a union that the decoder resolves
    by the `name` field (and refuses when it is missing); a model's only input keeps `name` as a field to check,
    because msgspec accepts a lone tagged struct without its tag."""
    # Types built at run time from the model's signature: list.__class_getitem__ is what `list[...]` calls.
    data = list.__class_getitem__(_element_type(spec))
    fields: list[Any] = [("datatype", str), ("shape", list[int]), ("data", data), _PARAMETERS]
    if tagged:
        return msgspec.defstruct(
            f"Input_{spec.name}", fields, tag_field="name", tag=spec.name, forbid_unknown_fields=True
        )
    return msgspec.defstruct("Input", [("name", str), *fields], forbid_unknown_fields=True)


class RequestDecoder:
    """Decodes well-formed infer request bodies for one model; returns None for everything else."""

    def __init__(self, signature: ModelSignature, max_rows: int):
        self._signature = signature
        self._max_rows = max_rows
        tagged = self._tagged = len(signature.inputs) > 1
        structs = tuple(_input_struct(spec, tagged) for spec in signature.inputs)
        # Per input struct: its spec, rank, and, when only the first dimension is dynamic, the row size and the
        # fixed dimensions past the first (as a list, to compare with the request's shape at once).
        self._layouts: dict[type, tuple[TensorSpec, int, int, list[int] | None]] = {}
        for struct, spec in zip(structs, signature.inputs, strict=True):
            fixed = spec.batched and all(dim >= 0 for dim in spec.shape[1:])
            tail = int(np.prod(spec.shape[1:], dtype=np.int64)) if fixed else 0
            self._layouts[struct] = (spec, len(spec.shape), tail, list(spec.shape[1:]) if fixed else None)
        tensor: Any = structs[0] if len(structs) == 1 else Union[structs]  # noqa: UP007 (a runtime-built union)
        request = msgspec.defstruct(
            "InferRequest",
            [
                ("inputs", list.__class_getitem__(tensor)),
                ("outputs", list[_Output] | None, None),
                ("id", str | None, None),
                _PARAMETERS,
            ],
            forbid_unknown_fields=True,
        )
        self._decoder = msgspec.json.Decoder(request)

    def decode(self, body: bytes) -> InferRequest | None:
        """The validated request, or None when the body is not in the fast path's form (or is wrong)."""
        try:
            request: Any = self._decoder.decode(body)  # an instance of the struct type built in __init__
        except (msgspec.DecodeError, ValueError, RecursionError):  # bad JSON or types; bad UTF-8; deep nesting
            return None
        signature = self._signature
        tagged = self._tagged
        if len(request.inputs) != len(signature.inputs):
            return None
        arrays: dict[str, np.ndarray] = {}
        rows = 0
        for tensor in request.inputs:
            spec, rank, tail, fixed_tail = self._layouts[type(tensor)]
            shape = tensor.shape
            if len(shape) != rank or tensor.datatype != spec.datatype or spec.name in arrays:
                return None
            if not tagged and tensor.name != spec.name:
                return None
            if not tensor.data:  # JSON's empty list has no type: the full parser decides what it may be
                return None
            if fixed_tail is not None:  # the usual layout: rows of a fixed size; one comparison checks it
                first = shape[0]
                if shape[1:] != fixed_tail or not 1 <= first <= self._max_rows or len(tensor.data) != first * tail:
                    return None
                rows = max(rows, first)
            elif not self._fits(shape, spec, len(tensor.data)):
                return None
            elif spec.batched:
                rows = max(rows, shape[0])
            arrays[spec.name] = np.array(tensor.data, dtype=spec.dtype).reshape(shape)
        outputs = signature.output_names
        if request.outputs is not None:
            outputs = tuple(output.name for output in request.outputs)
            if not outputs or any(name not in signature.output_by_name for name in outputs):
                return None
        return InferRequest(inputs=arrays, outputs=outputs, rows=rows, id=request.id)

    def _fits(self, shape: list[int], spec: TensorSpec, values: int) -> bool:
        """Other layouts: the full parser's shape check, and the values all there."""
        try:
            return check_shape(0, shape, spec, self._max_rows) == values
        except ProtocolError:  # the full parser says what is wrong
            return False
