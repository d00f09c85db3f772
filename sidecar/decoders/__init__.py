"""Payload decoders: a captured request/response pair to columns of features and predictions.

`decode_pair` runs the whole way: bounded decompression (at most `max_bytes`, 1 MiB by
default, per body), UTF-8, a nesting check (64 levels) and JSON parsing, protocol choice
(explicit, else by route, else by body shape in `SUPPORTED_DECODERS` order), then the
decoder. It raises `DecodeError` and nothing else; `reason` is one of a fixed set of labels:
`too_large`, `unsupported_encoding`, `bad_encoding`, `not_utf8`, `invalid_json`, `too_deep`,
`empty`, `unknown_protocol`, `invalid_payload`, `bad_shape`, `bad_datatype`, `row_mismatch`,
`pointer_not_found`, and `decoder_bug` (an unexpected exception, converted so monitoring never
breaks). Responses with status >= 400, empty bodies, or bodies that are not JSON decode to no
predictions; `text/event-stream` responses reach the decoder as an `EventStream`.
"""

from __future__ import annotations

from sidecar.decoders.base import (
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_FEATURES,
    DEFAULT_MAX_WIDTH,
    DecodedPayload,
    DecodeOptions,
    Decoder,
    EventStream,
)
from sidecar.decoders.generic import GenericJSONDecoder
from sidecar.decoders.kserve_v1 import KServeV1Decoder
from sidecar.decoders.llm import first_token_seconds
from sidecar.decoders.mlflow import MLflowDecoder
from sidecar.decoders.open_inference import OpenInferenceDecoder
from sidecar.decoders.openai import OpenAIDecoder
from sidecar.decoders.payload import (
    DEFAULT_MAX_BYTES,
    decompress,
    is_event_stream,
    parse_event_stream,
    parse_json,
)
from sidecar.decoders.routes import detect_model, protocol_for_path, route_template
from sidecar.records import Captured, Decoded, DecodeError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_FEATURES",
    "DEFAULT_MAX_WIDTH",
    "SUPPORTED_DECODERS",
    "DecodeOptions",
    "DecodedPayload",
    "Decoder",
    "EventStream",
    "decode_pair",
    "detect_model",
    "detect_protocol",
    "route_template",
]

SUPPORTED_DECODERS: dict[str, Decoder] = {
    "open_inference": OpenInferenceDecoder(),
    "kserve_v1": KServeV1Decoder(),
    "mlflow": MLflowDecoder(),
    "openai": OpenAIDecoder(),
    "generic": GenericJSONDecoder(),
}
"""Protocol name -> decoder; the order is the body-shape detection priority."""

TTFT_COLUMN = "time_to_first_token_seconds"


def detect_protocol(path: str, request: object) -> str:
    """The protocol of a parsed request: by route, else the first decoder whose shape matches."""
    by_path = protocol_for_path(path)
    if by_path is not None:
        return by_path
    for name, decoder in SUPPORTED_DECODERS.items():
        if decoder.matches(path, request):
            return name
    raise DecodeError("unknown_protocol", f"no decoder for a {type(request).__name__} body")


def parse_response(captured: Captured, max_bytes: int = DEFAULT_MAX_BYTES) -> object | None:
    """The response as JSON, an `EventStream`, or None (error status, empty or not JSON)."""
    if captured.status >= 400:
        return None
    body = decompress(captured.response_body, captured.response_encoding, max_bytes)
    if not body.strip():
        return None
    if is_event_stream(body, captured.response_content_type):
        return parse_event_stream(body)
    try:
        return parse_json(body)
    except DecodeError:
        return None


def decode_pair(
    captured: Captured,
    options: DecodeOptions,
    protocol: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Decoded:
    """Decode one captured pair with `protocol` (or the detected one) into columns."""
    if protocol is not None and protocol not in SUPPORTED_DECODERS:
        raise DecodeError("unknown_protocol", f"protocol {protocol[:40]!r} is not supported")
    body = decompress(captured.request_body, captured.request_encoding, max_bytes)
    if not body.strip():
        raise DecodeError("empty", "request body is empty")
    request = parse_json(body)
    name = protocol or detect_protocol(captured.path, request)
    response = parse_response(captured, max_bytes)
    try:
        decoded = SUPPORTED_DECODERS[name].decode(captured.path, request, response, options)
    except DecodeError:
        raise
    except (ArithmeticError, LookupError, TypeError, ValueError, RecursionError) as error:
        raise DecodeError(
            "decoder_bug", f"{name}: {type(error).__name__}: {error}"[:200]
        ) from error
    if name == "openai" and (first := first_token_seconds(captured, response)) is not None:
        # Successful streams only, to the first chunk carrying content (not the role chunk).
        decoded.predictions[TTFT_COLUMN] = [first] * decoded.n_rows
    return decoded
