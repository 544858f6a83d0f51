"""The one entry point for decoding infer requests: a well-formed request decodes to the same `InferRequest` on the
fast path and through the full parser, over every datatype (BYTES strings too) and several layouts; every other form
and every mistake takes the full parser, and a mistake gets the full parser's status and message."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from model_server import infer_request
from model_server.datatypes import V2_TO_NUMPY
from model_server.infer_request import decode_infer_request
from model_server.model_state import LoadedModel, load_model
from model_server.protocol import InferRequest, ModelSignature, ProtocolError, parse_infer_request
from model_server.runtime import ModelRuntime, TensorSpec
from model_server.settings import Settings

from tests.model.test_http_api import BAD_REQUESTS, ROW, tensor
from tests.model.test_request_decoder import BREAST_CANCER, MAX_ROWS, MIXED, MIXED_MISTAKES, body

DATATYPES = sorted(V2_TO_NUMPY)  # every V2 datatype, BYTES (strings) among them
# Strings JSON writes with escapes, unicode past the BMP and NUL among them; both paths must read them alike.
STRINGS = ["", "setosa", "Iris-versicolor", "ünïcödé", 'quote " and back\\slash', "tab\t newline\n", "🌸", "\u0000"]
# -1 is a dynamic dimension: rows first, as most models have, and inner ones as a tokenizer's output has.
LAYOUTS = [(-1, 3), (-1, -1), (-1,), (-1, 2, 2), (2, 3), (3,), (1, -1)]
SEEDS = range(3)


class StubRuntime(ModelRuntime):
    """A runtime with the given tensors, whose predictions are never looked at (only warm-up runs it)."""

    platform = "stub"

    def __init__(self, signature: ModelSignature):
        super().__init__()
        self._signature = signature

    def load(self) -> None:
        self.inputs, self.outputs = self._signature.inputs, self._signature.outputs

    def predict(self, inputs):
        return {}


def loaded(signature: ModelSignature) -> LoadedModel:
    return load_model(StubRuntime(signature), Settings(max_request_rows=MAX_ROWS))


def spec(name: str, datatype: str, shape: tuple[int, ...]) -> TensorSpec:
    return TensorSpec(name, datatype, V2_TO_NUMPY[datatype], shape)


def values(rng: random.Random, datatype: str, count: int) -> list:
    """`count` JSON values a `datatype` input holds, the dtype's extremes among them when there is room."""
    dtype = V2_TO_NUMPY[datatype]
    if dtype.kind == "O":
        return [rng.choice(STRINGS) + str(rng.randint(0, 9)) * rng.randint(0, 1) for _ in range(count)]
    if dtype.kind == "b":
        return [rng.random() < 0.5 for _ in range(count)]
    drawn: list[int | float]
    edges: tuple[int | float, int | float]
    if dtype.kind in "iu":
        smallest, largest = int(np.iinfo(dtype).min), min(int(np.iinfo(dtype).max), 2**63 - 1)  # past: full parser
        drawn = [rng.randint(smallest, largest) for _ in range(count)]
        edges = smallest, largest
    else:
        largest_float = float(np.finfo(dtype).max)
        # Decimals and integers mixed: both paths take integers for floats through float64, as every JSON number.
        big = int(min(largest_float, 2**40))  # FP16 holds no more than 65504
        drawn = [rng.uniform(-1000, 1000) if rng.random() < 0.7 else rng.randint(-big, big) for _ in range(count)]
        edges = -largest_float, largest_float
    if count >= 2:
        drawn[0], drawn[-1] = edges
    return drawn


def random_tensor(rng: random.Random, input_spec: TensorSpec, rows: int) -> dict:
    shape = [rows if index == 0 and dim < 0 else (rng.randint(1, 3) if dim < 0 else dim)
             for index, dim in enumerate(input_spec.shape)]  # fmt: skip
    count = int(np.prod(shape))
    data = values(rng, input_spec.datatype, count)
    return {"name": input_spec.name, "datatype": input_spec.datatype, "shape": shape, "data": data}


def random_request(rng: random.Random, signature: ModelSignature) -> dict:
    rows = rng.randint(1, 4)  # batched inputs of one request carry the same rows
    inputs = [random_tensor(rng, input_spec, rows) for input_spec in signature.inputs]
    rng.shuffle(inputs)
    request: dict = {"inputs": inputs}
    if rng.random() < 0.5:
        request["id"] = f"request-{rng.randint(0, 999)}"
    if rng.random() < 0.5:
        request["outputs"] = [{"name": name} for name in rng.sample(signature.output_names, 1)]
    return request


def assert_same(decoded: InferRequest, expected: InferRequest) -> None:
    assert (decoded.outputs, decoded.rows, decoded.id) == (expected.outputs, expected.rows, expected.id)
    assert decoded.inputs.keys() == expected.inputs.keys()
    for name, array in expected.inputs.items():
        np.testing.assert_array_equal(decoded.inputs[name], array, strict=True)  # values, shape and dtype


@pytest.fixture
def full_parser_calls(monkeypatch) -> list[bytes]:
    """The bodies the entry point handed to the full parser."""
    calls: list[bytes] = []

    def spy(request_body, signature, max_rows):
        calls.append(request_body)
        return parse_infer_request(request_body, signature, max_rows)

    monkeypatch.setattr(infer_request, "parse_infer_request", spy)
    return calls


OUTPUTS = (spec("label", "INT64", (-1,)), spec("scores", "FP32", (-1, 2)))
ONE_INPUT_CASES = [(datatype, layout, seed) for datatype in DATATYPES for layout in LAYOUTS for seed in SEEDS]


@pytest.mark.parametrize("datatype, layout, seed", ONE_INPUT_CASES)
def test_a_well_formed_request_decodes_the_same_on_both_paths(datatype, layout, seed, full_parser_calls):
    signature = ModelSignature((spec("x", datatype, layout),), OUTPUTS)
    model = loaded(signature)
    request_body = body(random_request(random.Random(f"{datatype}{layout}{seed}"), signature))
    fast = model.decoder.decode(request_body)
    assert fast is not None, "the fast path should take every well-formed request in the common form"
    full = parse_infer_request(request_body, signature, MAX_ROWS)
    assert_same(fast, full)
    assert_same(decode_infer_request(request_body, model), full)
    assert full_parser_calls == []  # the common form never pays for the full parser


@pytest.mark.parametrize("seed", range(40))
def test_several_inputs_of_any_datatypes_decode_the_same_on_both_paths(seed, full_parser_calls):
    rng = random.Random(seed)
    names = ("a", "b", "c")[: rng.randint(2, 3)]
    signature = ModelSignature(tuple(spec(name, rng.choice(DATATYPES), rng.choice(LAYOUTS)) for name in names), OUTPUTS)
    model = loaded(signature)
    request_body = body(random_request(rng, signature))
    fast = model.decoder.decode(request_body)
    assert fast is not None
    full = parse_infer_request(request_body, signature, MAX_ROWS)
    assert_same(fast, full)
    assert_same(decode_infer_request(request_body, model), full)
    assert full_parser_calls == []


TEXT = ModelSignature((spec("text", "BYTES", (-1, 2)),), OUTPUTS)
WORDS = {"name": "text", "datatype": "BYTES", "shape": [1, 2], "data": ["setosa", "🌸"]}
UINT64 = ModelSignature((spec("n", "UINT64", (-1, 1)),), OUTPUTS)
LARGEST_UINT64 = {"name": "n", "datatype": "UINT64", "shape": [1, 1], "data": [2**64 - 1]}
OTHER_VALID_FORMS = {
    "nested data": (BREAST_CANCER, {"inputs": [tensor([ROW, ROW], [2, 30])]}),
    "an unknown field": (BREAST_CANCER, {"inputs": [tensor(ROW)], "extra": 1}),
    "parameters not an object": (BREAST_CANCER, {"inputs": [tensor(ROW)], "parameters": 5}),
    "UINT64 past int64": (UINT64, {"inputs": [LARGEST_UINT64]}),
    "nested strings": (TEXT, {"inputs": [{**WORDS, "shape": [2, 2], "data": [["a", "b"], ["c", "d"]]}]}),
}


@pytest.mark.parametrize("signature, request_body", OTHER_VALID_FORMS.values(), ids=OTHER_VALID_FORMS.keys())
def test_other_valid_forms_take_the_full_parser_and_get_its_result(signature, request_body, full_parser_calls):
    model = loaded(signature)
    assert model.decoder.decode(body(request_body)) is None
    decoded = decode_infer_request(body(request_body), model)
    assert_same(decoded, parse_infer_request(body(request_body), signature, MAX_ROWS))
    assert full_parser_calls == [body(request_body)]


MISTAKES = {
    **{name: (BREAST_CANCER, request_body, expected) for name, (request_body, expected) in BAD_REQUESTS.items()},
    **{name: (MIXED, request_body, "") for name, request_body in MIXED_MISTAKES.items()},
    "numbers for BYTES": (TEXT, {"inputs": [{**WORDS, "data": ["a", 1]}]}, "must hold only strings (BYTES)"),
    "null for BYTES": (TEXT, {"inputs": [{**WORDS, "data": [None, "a"]}]}, "must hold only strings (BYTES)"),
    "uneven nested strings": (
        TEXT, {"inputs": [{**WORDS, "shape": [2, 2], "data": [["a", "b"], ["c"]]}]}, "nested list of uneven lengths"
    ),
    "too few strings": (TEXT, {"inputs": [{**WORDS, "data": ["a"]}]}, "has 1 values but shape [1, 2] needs 2"),
    "invalid UTF-8 in a string": (TEXT, b'{"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1, 2], '
                                  b'"data": ["a", "\xed\xa0\x80"]}]}', "not valid JSON"),
    "invalid UTF-8 in parameters": (
        BREAST_CANCER, b'{"parameters": {"a": "\xed\xa0\x80"}, "inputs": [%s]}' % body(tensor(ROW)), "not valid JSON"
    ),
}  # fmt: skip


@pytest.mark.parametrize("signature, request_body, expected", MISTAKES.values(), ids=MISTAKES.keys())
def test_every_mistake_takes_the_full_parser_and_gets_its_message(signature, request_body, expected, full_parser_calls):
    model = loaded(signature)
    assert model.decoder.decode(body(request_body)) is None
    with pytest.raises(ProtocolError) as full:
        parse_infer_request(body(request_body), signature, MAX_ROWS)
    with pytest.raises(ProtocolError) as entry:
        decode_infer_request(body(request_body), model)
    assert (entry.value.status, entry.value.message) == (full.value.status, full.value.message)
    assert entry.value.status == 400 and expected in entry.value.message
    assert full_parser_calls == [body(request_body)]


def test_the_request_bodies_here_are_json_as_a_client_sends_it():
    """The cases above go through `body`, which uses Python's json: check it writes the extremes exactly."""
    largest = float(np.finfo(np.float32).max)
    assert json.loads(body({"v": [largest, 2**63 - 1, -(2**63)]})) == {"v": [largest, 2**63 - 1, -(2**63)]}
