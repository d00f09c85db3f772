"""Property-based: decode_pair returns well-formed columns or raises DecodeError, nothing else."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidecar.decoders import SUPPORTED_DECODERS, DecodeOptions, decode_pair
from sidecar.decoders.payload import json_depth
from sidecar.records import Captured, Decoded, DecodeError

CapturedFactory = Callable[..., Captured]
SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
PATHS = st.sampled_from(
    [
        "/v2/models/m/infer",
        "/v1/models/m:predict",
        "/invocations",
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/predict",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**320)
    | st.floats()
    | st.text(max_size=8)
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=6), children, max_size=6)
    ),
    max_leaves=40,
)
DATATYPES = st.sampled_from(["FP32", "INT8", "UINT64", "BOOL", "BYTES", "FP16", "X"])
TENSORS = st.fixed_dictionaries(
    {
        "name": st.text(max_size=4),
        "shape": st.lists(st.integers(min_value=-1, max_value=4), max_size=3),
        "datatype": DATATYPES,
        "data": JSON,
    }
)
KEYS = st.sampled_from(
    ["instances", "inputs", "predictions", "outputs", "dataframe_split", "dataframe_records"]
)
SHAPED = st.one_of(
    st.fixed_dictionaries({"inputs": st.lists(TENSORS, max_size=3)}),
    st.fixed_dictionaries({"outputs": st.lists(TENSORS, max_size=3)}),
    st.dictionaries(KEYS, JSON, min_size=1, max_size=2),
    st.fixed_dictionaries(
        {"dataframe_split": st.fixed_dictionaries({"columns": JSON, "data": JSON})}
    ),
    st.fixed_dictionaries(
        {"model": st.text(max_size=4), "messages": JSON, "prompt": JSON, "input": JSON}
    ),
    st.fixed_dictionaries({"choices": JSON, "usage": JSON, "data": JSON}),
)
BODIES = st.one_of(JSON, SHAPED)
OPTIONS = st.builds(
    DecodeOptions,
    max_width=st.integers(min_value=1, max_value=8),
    max_depth=st.integers(min_value=0, max_value=4),
    max_features=st.integers(min_value=1, max_value=12),
    feature_names=st.none() | st.lists(st.text(min_size=1, max_size=3), max_size=3).map(tuple),
)


def check(decoded: Decoded, options: DecodeOptions) -> None:
    """Every column has n_rows cells of the allowed types, within the caps."""
    assert decoded.n_rows >= 0
    assert len(decoded.features) <= options.max_features
    for columns in (decoded.features, decoded.predictions):
        for values in columns.values():
            assert len(values) == decoded.n_rows
            assert all(value is None or type(value) in (float, str) for value in values)
    if decoded.probabilities is not None:
        assert len(decoded.probabilities) == decoded.n_rows


def run(pair: Captured, options: DecodeOptions, protocol: str | None = None) -> None:
    """Decode and check, allowing only DecodeError with a known, non-bug reason."""
    try:
        decoded = decode_pair(pair, options, protocol)
    except DecodeError as error:
        assert error.reason != "decoder_bug", str(error)
        return
    check(decoded, options)


class TestDecodePairProperties:
    @SETTINGS
    @given(
        path=PATHS,
        request=BODIES,
        response=BODIES,
        options=OPTIONS,
        protocol=st.none() | st.sampled_from(sorted(SUPPORTED_DECODERS)),
    )
    def test_arbitrary_json_pairs(
        self,
        captured: CapturedFactory,
        path: str,
        request: object,
        response: object,
        options: DecodeOptions,
        protocol: str | None,
    ) -> None:
        """Any JSON request/response on any route decodes to valid columns or a DecodeError."""
        run(captured(path, json.dumps(request).encode(), json.dumps(response).encode()), options)
        run(captured(path, json.dumps(request).encode(), b""), options, protocol)

    @SETTINGS
    @given(
        path=PATHS,
        request=st.binary(max_size=200),
        response=st.binary(max_size=200),
        encoding=st.sampled_from(["", "gzip", "deflate", "br"]),
        content_type=st.sampled_from(["", "application/json", "text/event-stream"]),
    )
    def test_arbitrary_bytes(
        self,
        captured: CapturedFactory,
        path: str,
        request: bytes,
        response: bytes,
        encoding: str,
        content_type: str,
    ) -> None:
        """Arbitrary bytes under any encoding give a Decoded or a DecodeError."""
        pair = captured(
            path,
            request,
            response,
            request_encoding=encoding,
            response_encoding=encoding,
            response_content_type=content_type,
        )
        run(pair, DecodeOptions())

    @SETTINGS
    @given(
        request=BODIES,
        events=st.lists(JSON, max_size=5),
        encoding=st.sampled_from(["gzip", "deflate"]),
    )
    def test_compressed_json_and_event_streams(
        self, captured: CapturedFactory, request: object, events: list[object], encoding: str
    ) -> None:
        """Compressed JSON requests with SSE responses decode to valid columns or DecodeError."""
        raw = json.dumps(request).encode()
        body = gzip.compress(raw) if encoding == "gzip" else zlib.compress(raw)
        stream = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
        pair = captured(
            "/v1/chat/completions",
            body,
            stream.encode(),
            request_encoding=encoding,
            response_content_type="text/event-stream",
            first_byte=0.01,
        )
        run(pair, DecodeOptions())
        run(pair, DecodeOptions(), "generic")


def nesting(value: object) -> int:
    """Reference bracket depth of a parsed JSON value."""
    if isinstance(value, dict):
        return 1 + max(map(nesting, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(nesting, value), default=0)
    return 0


class TestJsonDepthProperties:
    @SETTINGS
    @given(value=JSON, text=st.text(alphabet='[]{}"\\ab', max_size=12))
    def test_scan_matches_the_parsed_depth(self, value: object, text: str) -> None:
        """The byte scan equals the depth of the parsed value, whatever strings contain."""
        document = {"s": text, "v": value, text: [text]}
        assert json_depth(json.dumps(document).encode()) == nesting(document)


BINARY_DATATYPES = st.sampled_from(
    ["BOOL", "UINT8", "UINT64", "INT16", "FP16", "BF16", "FP32", "FP64", "BYTES", "X"]
)
BINARY_TENSORS = st.fixed_dictionaries(
    {
        "name": st.text(max_size=4),
        "shape": st.lists(st.integers(min_value=-1, max_value=4), max_size=3),
        "datatype": BINARY_DATATYPES,
        "parameters": st.fixed_dictionaries(
            {"binary_data_size": st.integers(min_value=-1, max_value=40) | st.text(max_size=2)}
        ),
    }
)


class TestBinaryBodyProperties:
    @SETTINGS
    @given(
        tensors=st.lists(BINARY_TENSORS | TENSORS, max_size=3),
        tail=st.binary(max_size=120),
        shift=st.integers(min_value=-3, max_value=3) | st.none(),
        side=st.sampled_from(["inputs", "outputs"]),
        options=OPTIONS,
    )
    def test_arbitrary_binary_bodies(
        self,
        captured: CapturedFactory,
        tensors: list[dict[str, object]],
        tail: bytes,
        shift: int | None,
        side: str,
        options: DecodeOptions,
    ) -> None:
        """Binary bodies with any tensors, sizes, bytes and header lengths (right, off by a
        few, or absent) give valid columns or a DecodeError, on requests and responses."""
        head = json.dumps({side: tensors}).encode()
        length = "" if shift is None else str(len(head) + shift)
        headers = () if shift is None else (("Inference-Header-Content-Length", length),)
        body = head + tail
        plain = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1.0]}]}
        as_request = captured("/v2/models/m/infer", body, b"", request_headers=headers)
        as_response = captured(
            "/v2/models/m/infer", json.dumps(plain).encode(), body, response_headers=headers
        )
        run(as_request, options)
        run(as_response, options)
