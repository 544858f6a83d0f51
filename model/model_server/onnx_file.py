"""What an ONNX file declares, read with the standard library alone: its signature and its external data files.

An ONNX file is one protobuf `ModelProto`. This module walks its wire format just far enough to answer three
questions: is it an ONNX model at all, which tensors does the graph take and return (name, element type, shape),
and which files beside it hold tensor data (`external_data` locations, as PyTorch's exporter writes for large
weights: `<name>.onnx.data`). No `onnx` package: the Pulumi program checks model files with this before anything
is registered, and the server image ships no `onnx` (tests/image forbids it). Tensor bytes are skipped, never
copied: the file is memory-mapped, so a graph with 1 GB of embedded weights costs one pass over its structure.
Field numbers are those of onnx.proto (onnx 1.x), which only ever adds fields.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

# ONNX TensorProto.DataType -> Open Inference Protocol datatype; strings are BYTES. Types V2 has no name for
# (bfloat16, complex, 8-bit and 4-bit floats) are missing on purpose.
ELEM_TYPE_TO_V2: dict[int, str] = {
    1: "FP32",
    2: "UINT8",
    3: "INT8",
    4: "UINT16",
    5: "INT16",
    6: "INT32",
    7: "INT64",
    8: "BYTES",
    9: "BOOL",
    10: "FP16",
    11: "FP64",
    12: "UINT32",
    13: "UINT64",
}

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5
# TypeProto's oneof: which kind of value a graph input or output is.
_TYPE_KINDS = {1: "tensor", 4: "sequence", 5: "map", 8: "sparse tensor", 9: "optional"}


class NotOnnxError(ValueError):
    """The file is not a well-formed ONNX model; the message says what is wrong, in a few words."""


@dataclass(frozen=True)
class ValueInfo:
    """A graph input or output: its name, what kind of value it is, and for a tensor its element type and shape."""

    name: str
    kind: str  # "tensor", "sequence", "map", "sparse tensor", "optional" or "unknown"
    elem_type: int = 0  # TensorProto.DataType, for a tensor
    shape: tuple[int, ...] = ()  # -1 for a symbolic or unknown dimension


@dataclass(frozen=True)
class OnnxFile:
    """What a model file declares: its inputs (initializers excluded), outputs and external data locations."""

    inputs: tuple[ValueInfo, ...]
    outputs: tuple[ValueInfo, ...]
    #: Relative paths of the files holding external tensor data, sorted, each once.
    external_data: tuple[str, ...]


def read_onnx(path: Path) -> OnnxFile:
    """Read `path`'s declarations; raise `NotOnnxError` when it is not an ONNX model, `OSError` when unreadable."""
    with open(path, "rb") as file:
        size = file.seek(0, 2)
        if size == 0:
            raise NotOnnxError("the file is empty")
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            view = memoryview(mapped)
            try:
                return _read_model(view)
            except IndexError:
                raise NotOnnxError("truncated protobuf data") from None
            finally:
                view.release()


def _read_model(buf: memoryview) -> OnnxFile:
    ir_version = None
    graph = None
    locations: set[str] = set()
    for field, wire, a, b in _fields(buf, 0, len(buf)):
        if field == 1 and wire == _VARINT:
            ir_version = a
        elif field == 7 and wire == _LEN:
            graph = (a, b)
        elif field == 20 and wire == _LEN:  # training_info: its initialization and algorithm graphs
            for sub, sub_wire, c, d in _fields(buf, a, b):
                if sub in (1, 2) and sub_wire == _LEN:
                    _graph_locations(buf, c, d, locations)
        elif field == 25 and wire == _LEN:  # functions: their nodes' attributes may hold tensors
            for sub, sub_wire, c, d in _fields(buf, a, b):
                if sub == 7 and sub_wire == _LEN:
                    _node_locations(buf, c, d, locations)
    if not ir_version or graph is None:
        raise NotOnnxError("no ir_version or no graph, which every ONNX model has")
    inputs, outputs, initializers = [], [], set()
    for field, wire, a, b in _fields(buf, *graph):
        if field == 11 and wire == _LEN:
            inputs.append(_value_info(buf, a, b))
        elif field == 12 and wire == _LEN:
            outputs.append(_value_info(buf, a, b))
        elif field == 5 and wire == _LEN:
            initializers.add(_tensor_name(buf, a, b))
    _graph_locations(buf, *graph, locations)
    return OnnxFile(
        inputs=tuple(value for value in inputs if value.name not in initializers),  # before IR 4 they were listed
        outputs=tuple(outputs),
        external_data=tuple(sorted(locations)),
    )


def _varint(buf: memoryview, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end:
            raise NotOnnxError("truncated protobuf data")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise NotOnnxError("malformed protobuf data (an over-long varint)")


def _fields(buf: memoryview, pos: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """Each field of the message in buf[pos:end]: (number, wire type, value, 0) for a varint, (number, wire type,
    start, end) for length-delimited data, (number, wire type, 0, 0) for fixed-size values."""
    while pos < end:
        key, pos = _varint(buf, pos, end)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise NotOnnxError("malformed protobuf data (field number 0)")
        if wire == _VARINT:
            value, pos = _varint(buf, pos, end)
            yield field, wire, value, 0
            continue
        if wire == _LEN:
            length, pos = _varint(buf, pos, end)
            start, pos = pos, pos + length
            if pos > end:
                raise NotOnnxError("truncated protobuf data")
            yield field, wire, start, pos
            continue
        if wire not in (_I64, _I32):  # groups (3, 4) do not occur in ONNX; 6 and 7 do not exist
            raise NotOnnxError(f"malformed protobuf data (wire type {wire})")
        pos += 8 if wire == _I64 else 4
        if pos > end:
            raise NotOnnxError("truncated protobuf data")
        yield field, wire, 0, 0


def _text(buf: memoryview, start: int, end: int) -> str:
    try:
        return bytes(buf[start:end]).decode("utf-8")
    except UnicodeDecodeError:
        raise NotOnnxError("malformed protobuf data (a name is not UTF-8)") from None


def _value_info(buf: memoryview, start: int, end: int) -> ValueInfo:
    name, kind, elem_type = "", "unknown", 0
    shape: tuple[int, ...] = ()
    for field, wire, a, b in _fields(buf, start, end):
        if field == 1 and wire == _LEN:
            name = _text(buf, a, b)
        elif field == 2 and wire == _LEN:  # TypeProto
            for type_field, type_wire, c, d in _fields(buf, a, b):
                if type_field in _TYPE_KINDS and type_wire == _LEN:
                    kind = _TYPE_KINDS[type_field]
                    if type_field == 1:
                        elem_type, shape = _tensor_type(buf, c, d)
    return ValueInfo(name=name, kind=kind, elem_type=elem_type, shape=shape)


def _tensor_type(buf: memoryview, start: int, end: int) -> tuple[int, tuple[int, ...]]:
    elem_type, dims = 0, []
    for field, wire, a, b in _fields(buf, start, end):
        if field == 1 and wire == _VARINT:
            elem_type = a
        elif field == 2 and wire == _LEN:  # TensorShapeProto: repeated Dimension dim = 1
            for dim_field, dim_wire, c, d in _fields(buf, a, b):
                if dim_field == 1 and dim_wire == _LEN:
                    value = -1  # dim_param (symbolic) or nothing: any size
                    for value_field, value_wire, e, _ in _fields(buf, c, d):
                        if value_field == 1 and value_wire == _VARINT:
                            value = e if e < 2**63 else -1
                    dims.append(value)
    return elem_type, tuple(dims)


def _tensor_name(buf: memoryview, start: int, end: int) -> str:
    for field, wire, a, b in _fields(buf, start, end):
        if field == 8 and wire == _LEN:
            return _text(buf, a, b)
    return ""


def _graph_locations(buf: memoryview, start: int, end: int, out: set[str]) -> None:
    """External data locations of a graph's initializers, sparse initializers and nodes (subgraphs included)."""
    for field, wire, a, b in _fields(buf, start, end):
        if wire != _LEN:
            continue
        if field == 5:
            _tensor_location(buf, a, b, out)
        elif field == 15:
            _sparse_locations(buf, a, b, out)
        elif field == 1:
            _node_locations(buf, a, b, out)


def _node_locations(buf: memoryview, start: int, end: int, out: set[str]) -> None:
    for field, wire, a, b in _fields(buf, start, end):
        if field != 5 or wire != _LEN:  # attribute
            continue
        for attr_field, attr_wire, c, d in _fields(buf, a, b):
            if attr_wire != _LEN:
                continue
            if attr_field in (5, 10):  # t, tensors
                _tensor_location(buf, c, d, out)
            elif attr_field in (6, 11):  # g, graphs
                _graph_locations(buf, c, d, out)
            elif attr_field in (22, 23):  # sparse_tensor, sparse_tensors
                _sparse_locations(buf, c, d, out)


def _sparse_locations(buf: memoryview, start: int, end: int, out: set[str]) -> None:
    for field, wire, a, b in _fields(buf, start, end):
        if field in (1, 2) and wire == _LEN:  # values, indices
            _tensor_location(buf, a, b, out)


def _tensor_location(buf: memoryview, start: int, end: int, out: set[str]) -> None:
    for field, wire, a, b in _fields(buf, start, end):
        if field != 13 or wire != _LEN:  # external_data: StringStringEntryProto {key = 1, value = 2}
            continue
        key = value = ""
        for entry_field, entry_wire, c, d in _fields(buf, a, b):
            if entry_field == 1 and entry_wire == _LEN:
                key = _text(buf, c, d)
            elif entry_field == 2 and entry_wire == _LEN:
                value = _text(buf, c, d)
        if key == "location":
            out.add(_safe_location(value))


def _safe_location(location: str) -> str:
    """A location as a relative POSIX path inside the model's directory; ONNX refuses any other, and so do we."""
    path = PurePosixPath(location.replace("\\", "/"))
    if not location or path.is_absolute() or ".." in path.parts:
        raise NotOnnxError(f"external data location {location!r} is not a relative path inside the model's directory")
    return str(path)
