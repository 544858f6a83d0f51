"""The one entry point for decoding an infer request body: the fast decoder first, the full parser for the rest.

Two decoders, one result. `request_decoder.RequestDecoder` (one typed msgspec pass in C) takes the common form:
flat data, known fields, every value in range; it returns None for anything else. `protocol.parse_infer_request`
accepts every valid form and words every mistake. So a body the fast path takes decodes to the same
`InferRequest` the full parser would give (tests/model/test_infer_request.py holds them to it over every numeric
datatype and several layouts), and every mistake is answered with the full parser's message.
"""

from __future__ import annotations

from model_server.model_state import LoadedModel
from model_server.protocol import InferRequest, parse_infer_request


def decode_infer_request(body: bytes, model: LoadedModel) -> InferRequest:
    """The validated request for `model`, or `protocol.ProtocolError` (a 4xx) saying what was expected."""
    request = model.decoder.decode(body)
    if request is None:  # another valid form, or a mistake: the full parser accepts it or says what is wrong
        request = parse_infer_request(body, model.signature, model.max_request_rows)
    return request
