"""Payload decoders: a captured request/response pair to columns of features and predictions.

`decode_pair` runs the whole way: bounded decompression (at most `max_bytes`, 1 MiB by
default, per body), UTF-8, a nesting check (64 levels) and JSON parsing, protocol choice
(explicit, else by route, else by body shape in `SUPPORTED_DECODERS` order), then the
decoder. It raises `DecodeError` and nothing else; `reason` is one of a fixed set of labels:
`too_large`, `unsupported_encoding`, `bad_encoding`, `not_utf8`, `invalid_json`, `too_deep`,
`empty`, `unknown_protocol`, `invalid_payload`, `bad_shape`, `bad_datatype`, `row_mismatch`,
`pointer_not_found`, the binary tensor extension's `binary_header_missing`,
`binary_header_length_invalid`, `binary_header_invalid`, `binary_size_invalid`,
`binary_size_mismatch` and `binary_bytes_invalid` (see
`sidecar.decoders.binary_tensors`), and `decoder_bug` (an unexpected exception, converted so
monitoring never breaks). Responses with status >= 400, empty bodies, or bodies that are not
JSON decode to no predictions (a response with `Inference-Header-Content-Length` must decode);
`text/event-stream` responses reach the decoder as an `EventStream`. A body with that header is
split there and its binary tensors read (at most `max_bytes // 2` elements a body, as many as a
JSON body of `max_bytes` can hold). Open Inference payloads on a v2 model path are decoded with
the model's metadata when a `MetadataLookup` is given.
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
from sidecar.decoders.binary_tensors import header_length, parse_binary_body
from sidecar.decoders.generic import GenericJSONDecoder
from sidecar.decoders.kserve_v1 import KServeV1Decoder
from sidecar.decoders.metadata import MetadataLookup, ModelMetadata
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
from sidecar.decoders.routes import (
    ROUTE_V2,
    ROUTE_V2_VERSION,
    detect_model,
    detect_version,
    protocol_for_path,
    route_template,
)
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
    "MetadataLookup",
    "ModelMetadata",
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
_V2_ROUTES = (ROUTE_V2, ROUTE_V2_VERSION)


def detect_protocol(path: str, request: object) -> str:
    """The protocol of a parsed request: by route, else the first decoder whose shape matches."""
    by_path = protocol_for_path(path)
    if by_path is not None:
        return by_path
    for name, decoder in SUPPORTED_DECODERS.items():
        if decoder.matches(path, request):
            return name
    raise DecodeError("unknown_protocol", f"no decoder for a {type(request).__name__} body")


def parse_request(captured: Captured, max_bytes: int = DEFAULT_MAX_BYTES) -> object:
    """The request as JSON, with binary tensors read when the body uses the binary extension."""
    body = decompress(captured.request_body, captured.request_encoding, max_bytes)
    if not body.strip():
        raise DecodeError("empty", "request body is empty")
    length = header_length(captured.request_headers)
    if length is not None:
        return parse_binary_body(body, length, "inputs", max_bytes // 2)
    try:
        return parse_json(body)
    except DecodeError as error:
        if error.reason == "not_utf8" and route_template(captured.path) in _V2_ROUTES:
            raise DecodeError(
                "binary_header_missing",
                "a v2 body that is not UTF-8 JSON comes without Inference-Header-Content-Length",
            ) from None
        raise


def parse_response(captured: Captured, max_bytes: int = DEFAULT_MAX_BYTES) -> object | None:
    """The response as JSON, an `EventStream`, or None (error status, empty or not JSON)."""
    if captured.status >= 400:
        return None
    body = decompress(captured.response_body, captured.response_encoding, max_bytes)
    length = header_length(captured.response_headers)
    if length is not None:
        return parse_binary_body(body, length, "outputs", max_bytes // 2)
    if not body.strip():
        return None
    if is_event_stream(body, captured.response_content_type):
        return parse_event_stream(body)
    try:
        return parse_json(body)
    except DecodeError:
        return None


def model_metadata(path: str, lookup: MetadataLookup | None) -> ModelMetadata | None:
    """The metadata of the model a v2 path names, when a lookup is given."""
    if lookup is None or route_template(path) not in _V2_ROUTES:
        return None
    return lookup.get(detect_model(path), detect_version(path))


def decode_pair(
    captured: Captured,
    options: DecodeOptions,
    protocol: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    metadata: MetadataLookup | None = None,
) -> Decoded:
    """Decode one captured pair with `protocol` (or the detected one) into columns."""
    if protocol is not None and protocol not in SUPPORTED_DECODERS:
        raise DecodeError("unknown_protocol", f"protocol {protocol[:40]!r} is not supported")
    name = protocol or "auto"
    try:
        request = parse_request(captured, max_bytes)
        name = protocol or detect_protocol(captured.path, request)
        response = parse_response(captured, max_bytes)
        decoder = SUPPORTED_DECODERS[name]
        if isinstance(decoder, OpenInferenceDecoder):
            found = model_metadata(captured.path, metadata)
            decoded = decoder.decode(captured.path, request, response, options, found)
        else:
            decoded = decoder.decode(captured.path, request, response, options)
    except DecodeError:
        raise
    except (ArithmeticError, LookupError, TypeError, ValueError, RecursionError) as error:
        raise DecodeError(
            "decoder_bug", f"{name}: {type(error).__name__}: {error}"[:200]
        ) from error
    if name == "openai" and captured.first_byte is not None:
        decoded.predictions[TTFT_COLUMN] = [float(captured.first_byte)] * decoded.n_rows
    return decoded
