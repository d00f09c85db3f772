"""Body bytes to JSON: decompression, size and depth bounds, UTF-8, SSE parsing."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable

import pytest

from sidecar.decoders import DecodeOptions, decode_pair
from sidecar.decoders.payload import (
    check_depth,
    decompress,
    json_depth,
    parse_event_stream,
    parse_json,
)
from sidecar.records import Captured, DecodeError

CapturedFactory = Callable[..., Captured]

BODY = json.dumps({"instances": [[1.0, 2.0], [3.0, 4.0]]}).encode()


def reason(error: pytest.ExceptionInfo[DecodeError]) -> str:
    """The DecodeError reason of a raised error."""
    return error.value.reason


class TestDecompress:
    def test_identity_and_empty_encoding_return_the_body(self) -> None:
        """No encoding and `identity` leave the bytes as they are."""
        assert decompress(BODY, "") == BODY
        assert decompress(BODY, "identity") == BODY

    def test_gzip_round_trips(self) -> None:
        """A gzip body inflates back to the original bytes."""
        assert decompress(gzip.compress(BODY), "gzip") == BODY

    def test_deflate_accepts_zlib_and_raw_streams(self) -> None:
        """HTTP deflate is zlib-wrapped, but raw deflate from misbehaving servers also works."""
        raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        raw_body = raw.compress(BODY) + raw.flush()
        assert decompress(zlib.compress(BODY), "deflate") == BODY
        assert decompress(raw_body, "Deflate") == BODY

    def test_decompression_bomb_is_too_large(self) -> None:
        """A small gzip that inflates beyond max_bytes is refused, not inflated in full."""
        bomb = gzip.compress(b" " * (4 << 20))
        with pytest.raises(DecodeError) as error:
            decompress(bomb, "gzip", max_bytes=1 << 20)
        assert reason(error) == "too_large"

    def test_raw_body_over_the_limit_is_too_large(self) -> None:
        """An uncompressed body over max_bytes is refused before any parsing."""
        with pytest.raises(DecodeError) as error:
            decompress(b"1" * 101, "", max_bytes=100)
        assert reason(error) == "too_large"

    def test_unknown_encoding_is_unsupported(self) -> None:
        """Brotli and other encodings are reported, not guessed."""
        with pytest.raises(DecodeError) as error:
            decompress(b"abc", "br")
        assert reason(error) == "unsupported_encoding"

    def test_corrupt_gzip_is_bad_encoding(self) -> None:
        """Bytes that are not gzip under a gzip header give bad_encoding."""
        with pytest.raises(DecodeError) as error:
            decompress(b"not gzip at all", "gzip")
        assert reason(error) == "bad_encoding"


class TestParseJson:
    def test_valid_json_parses(self) -> None:
        """A well-formed body parses to Python values."""
        assert parse_json(BODY) == {"instances": [[1.0, 2.0], [3.0, 4.0]]}

    def test_invalid_utf8_is_not_utf8(self) -> None:
        """Latin-1 bytes that are not UTF-8 are reported as such."""
        with pytest.raises(DecodeError) as error:
            parse_json(b'{"a": "\xff"}')
        assert reason(error) == "not_utf8"

    def test_invalid_json_is_reported(self) -> None:
        """Truncated JSON gives invalid_json."""
        with pytest.raises(DecodeError) as error:
            parse_json(b'{"a": [1, 2')
        assert reason(error) == "invalid_json"

    @pytest.mark.parametrize("opening", [b"[", b'{"a":'])
    def test_depth_10000_is_too_deep_without_recursion_error(self, opening: bytes) -> None:
        """Arrays or objects nested 10,000 deep give too_deep, never RecursionError."""
        closing = b"]" if opening == b"[" else b"}"
        with pytest.raises(DecodeError) as error:
            parse_json(opening * 10_000 + b"1" + closing * 10_000)
        assert reason(error) == "too_deep"

    def test_brackets_inside_strings_do_not_count(self) -> None:
        """Brackets in string values, even after escaped quotes, are not nesting."""
        text = json.dumps({"s": '\\"' + "[" * 500, "t": ["x"]}).encode()
        assert json_depth(text) == 2
        check_depth(text, max_depth=2)
        assert parse_json(text) == {"s": '\\"' + "[" * 500, "t": ["x"]}

    def test_depth_at_the_limit_is_accepted(self) -> None:
        """Nesting exactly at the limit parses."""
        body = b"[" * 64 + b"]" * 64
        assert json_depth(body) == 64
        parse_json(body, max_depth=64)

    def test_many_shallow_brackets_are_accepted(self) -> None:
        """A long batch of small rows has many brackets but little depth."""
        body = json.dumps([[i, i] for i in range(1000)]).encode()
        assert json_depth(body) == 2


class TestEventStream:
    def test_events_are_parsed_until_done(self) -> None:
        """Each data event is parsed; [DONE] sets done; comments and event names are skipped."""
        body = (
            b': keep-alive\r\n\r\nevent: message\r\ndata: {"a": 1}\r\n\r\n'
            b'data: {"a": 2}\n\ndata: [DONE]\n\n'
        )
        stream = parse_event_stream(body)
        assert list(stream.events) == [{"a": 1}, {"a": 2}]
        assert stream.done
        assert stream.invalid == 0

    def test_multi_line_data_is_joined(self) -> None:
        """An event whose JSON spans two data lines is joined with a newline."""
        stream = parse_event_stream(b'data: {"a":\ndata: 3}\n\n')
        assert list(stream.events) == [{"a": 3}]
        assert not stream.done

    def test_invalid_events_are_counted(self) -> None:
        """Data that is not JSON is counted and left out."""
        stream = parse_event_stream(b"data: nope\n\ndata: {}\n\n")
        assert list(stream.events) == [{}]
        assert stream.invalid == 1


class TestDecodePairBodies:
    def test_gzip_request_and_deflate_response_decode(self, captured: CapturedFactory) -> None:
        """Compressed bodies on both sides decode like plain ones."""
        response = zlib.compress(json.dumps({"predictions": [1, 2]}).encode())
        pair = captured(
            "/v1/models/m:predict",
            gzip.compress(BODY),
            response,
            request_encoding="gzip",
            response_encoding="deflate",
        )
        decoded = decode_pair(pair, DecodeOptions())
        assert decoded.features == {"f0": [1.0, 3.0], "f1": [2.0, 4.0]}
        assert decoded.predictions == {"prediction": [1.0, 2.0]}

    def test_empty_request_is_reported(self, captured: CapturedFactory) -> None:
        """A request without a body cannot be decoded."""
        with pytest.raises(DecodeError) as error:
            decode_pair(captured("/x", b"  "), DecodeOptions())
        assert reason(error) == "empty"

    def test_error_status_and_non_json_responses_give_no_predictions(
        self, captured: CapturedFactory
    ) -> None:
        """A 500 response or an HTML page decodes features only."""
        failed = captured("/v1/models/m:predict", BODY, {"predictions": [1, 2]}, status=500)
        html = captured("/v1/models/m:predict", BODY, b"<html>oops</html>")
        assert decode_pair(failed, DecodeOptions()).predictions == {}
        assert decode_pair(html, DecodeOptions()).predictions == {}

    def test_too_large_request_is_reported(self, captured: CapturedFactory) -> None:
        """decode_pair applies max_bytes to the decompressed request."""
        pair = captured("/x", gzip.compress(BODY), request_encoding="gzip")
        with pytest.raises(DecodeError) as error:
            decode_pair(pair, DecodeOptions(), max_bytes=10)
        assert reason(error) == "too_large"
