"""The fast request decoder agrees with the full parser: the same result for what it takes, None for the rest."""

from __future__ import annotations

import json

import numpy as np
import pytest
from model_server.datatypes import V2_TO_NUMPY
from model_server.protocol import ModelSignature, ProtocolError, parse_infer_request
from model_server.request_decoder import RequestDecoder
from model_server.runtime import TensorSpec

from tests.model.test_http_api import BAD_REQUESTS, ROW, tensor

MAX_ROWS = 600


def spec(name: str, datatype: str, shape: tuple[int, ...]) -> TensorSpec:
    return TensorSpec(name, datatype, V2_TO_NUMPY[datatype], shape)


BREAST_CANCER = ModelSignature(
    (spec("input", "FP32", (-1, 30)),), (spec("label", "INT64", (-1,)), spec("probabilities", "FP32", (-1, 2)))
)
# Two inputs of different types, one with a fixed first dimension and one with a dynamic inner dimension.
MIXED = ModelSignature(
    (spec("x", "FP16", (-1, 2)), spec("flags", "BOOL", (-1, -1)), spec("scale", "INT8", (1,))),
    (spec("y", "FP32", (-1,)),),
)


def body(value) -> bytes:
    return value if isinstance(value, bytes) else json.dumps(value).encode()


def assert_same_as_full_parser(signature: ModelSignature, request) -> None:
    fast = RequestDecoder(signature, MAX_ROWS).decode(body(request))
    assert fast is not None, "the fast path should take this request"
    full = parse_infer_request(body(request), signature, MAX_ROWS)
    assert (fast.outputs, fast.rows, fast.id) == (full.outputs, full.rows, full.id)
    assert fast.inputs.keys() == full.inputs.keys()
    for name, array in full.inputs.items():
        assert fast.inputs[name].dtype == array.dtype
        np.testing.assert_array_equal(fast.inputs[name], array)


GOOD = {
    "one row": {"inputs": [tensor(ROW)]},
    "integers for FP32": {"inputs": [tensor([int(value) for value in ROW])]},
    "three rows, id, one output": {"id": "r1", "inputs": [tensor(ROW * 3, [3, 30])], "outputs": [{"name": "label"}]},
    "largest FP32": {"inputs": [tensor(ROW[:29] + [float(np.finfo(np.float32).max)])]},
    "extension parameters": {
        "parameters": {"a": 1},
        "inputs": [{**tensor(ROW), "parameters": {"b": [2, "c"]}}],
        "outputs": [{"name": "label", "parameters": {"binary_data": False}}],
    },
    # Beyond 2**53 an integer has no exact float64; both paths round it through float64, as any JSON number.
    "integers beyond 2**53 for FP32": {"inputs": [tensor([2**60 + 2**36 + 1] * 30)]},
}


@pytest.mark.parametrize("request_body", GOOD.values(), ids=GOOD.keys())
def test_well_formed_requests_decode_as_the_full_parser_parses_them(request_body):
    assert_same_as_full_parser(BREAST_CANCER, request_body)


@pytest.mark.parametrize("request_body, _message", BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_every_mistake_is_left_to_the_full_parser_to_explain(request_body, _message):
    assert RequestDecoder(BREAST_CANCER, MAX_ROWS).decode(body(request_body)) is None
    with pytest.raises(ProtocolError):
        parse_infer_request(body(request_body), BREAST_CANCER, MAX_ROWS)


FIELD_MISTAKES = {
    "unknown field": {"inputs": [tensor(ROW)], "extra": 1},
    "unknown field in an input": {"inputs": [{**tensor(ROW), "extra": 1}]},
    "unknown field in an output": {"inputs": [tensor(ROW)], "outputs": [{"name": "label", "extra": 1}]},
    "parameters not an object": {"inputs": [tensor(ROW)], "parameters": 5},
    "invalid UTF-8 in parameters": b'{"parameters": {"a": "\xed\xa0\x80"}, "inputs": [%s]}' % body(tensor(ROW)),
}


@pytest.mark.parametrize("request_body", FIELD_MISTAKES.values(), ids=FIELD_MISTAKES.keys())
def test_fields_the_fast_path_does_not_know_are_left_to_the_full_parser(request_body):
    """msgspec does not validate what it skips, so unknown fields and odd parameters take the full parser."""
    assert RequestDecoder(BREAST_CANCER, MAX_ROWS).decode(body(request_body)) is None


def test_empty_data_is_left_to_the_full_parser_whatever_the_datatype():
    tokens = ModelSignature((spec("ids", "INT64", (-1, -1)),), (spec("y", "FP32", (-1,)),))
    empty = {"inputs": [{"name": "ids", "datatype": "INT64", "shape": [1, 0], "data": []}]}
    assert RequestDecoder(tokens, MAX_ROWS).decode(body(empty)) is None
    with pytest.raises(ProtocolError):  # JSON's [] parses as floats, which INT64 refuses
        parse_infer_request(body(empty), tokens, MAX_ROWS)


def test_uint64_values_past_int64_are_left_to_the_full_parser():
    counts = ModelSignature((spec("n", "UINT64", (-1, 1)),), (spec("y", "FP32", (-1,)),))
    largest_signed = {"inputs": [{"name": "n", "datatype": "UINT64", "shape": [1, 1], "data": [2**63 - 1]}]}
    assert_same_as_full_parser(counts, largest_signed)
    past = {"inputs": [{"name": "n", "datatype": "UINT64", "shape": [1, 1], "data": [2**63]}]}
    assert RequestDecoder(counts, MAX_ROWS).decode(body(past)) is None


def test_nested_data_is_left_to_the_full_parser_which_accepts_it():
    nested = body({"inputs": [tensor([ROW, ROW], [2, 30])]})
    assert RequestDecoder(BREAST_CANCER, MAX_ROWS).decode(nested) is None
    assert parse_infer_request(nested, BREAST_CANCER, MAX_ROWS).rows == 2


def mixed(x=(0.5, 1.5), flags=(True, False, True, True), scale=3, names=("x", "flags", "scale")) -> dict:
    return {
        "inputs": [
            {"name": names[0], "datatype": "FP16", "shape": [len(x) // 2, 2], "data": list(x)},
            {
                "name": names[1],
                "datatype": "BOOL",
                "shape": [len(x) // 2, len(flags) * 2 // len(x)],
                "data": list(flags),
            },
            {"name": names[2], "datatype": "INT8", "shape": [1], "data": [scale]},
        ]
    }  # fmt: skip


def test_several_inputs_of_different_types_are_told_apart_by_name():
    assert_same_as_full_parser(MIXED, mixed())
    reordered = mixed()
    reordered["inputs"].reverse()
    assert_same_as_full_parser(MIXED, reordered)


MIXED_MISTAKES = {
    "value too large for FP16": mixed(x=(0.5, 70000.0)),
    "INT8 out of range": mixed(scale=200),
    "number for a BOOL": mixed(flags=(1, 0, 1, 1)),
    "float for an INT8": mixed(scale=2.0),
    "unknown input name": mixed(names=("x", "flags", "bias")),
    "same input twice": mixed(names=("x", "x", "scale")),
    "fixed dimension wrong": {
        "inputs": [*mixed()["inputs"][:2], {**mixed()["inputs"][2], "shape": [2], "data": [1, 2]}]
    },
    "an input missing": {"inputs": mixed()["inputs"][:2]},
    "an input without a name": {"inputs": [*mixed()["inputs"][:2], {"datatype": "INT8", "shape": [1], "data": [3]}]},
}  # fmt: skip


@pytest.mark.parametrize("request_body", MIXED_MISTAKES.values(), ids=MIXED_MISTAKES.keys())
def test_mistakes_with_several_inputs_are_left_to_the_full_parser(request_body):
    assert RequestDecoder(MIXED, MAX_ROWS).decode(body(request_body)) is None
    with pytest.raises(ProtocolError):
        parse_infer_request(body(request_body), MIXED, MAX_ROWS)


def test_the_only_input_must_be_named():
    unnamed = {"inputs": [{"datatype": "FP32", "shape": [1, 30], "data": ROW}]}
    assert RequestDecoder(BREAST_CANCER, MAX_ROWS).decode(body(unnamed)) is None
