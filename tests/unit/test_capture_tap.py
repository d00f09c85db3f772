"""The capture tap keeps references on the event loop and builds pairs in the analysis thread."""

from __future__ import annotations

from sidecar.capture import KEPT_CHUNKS, Capture, Sampler, SamplingPolicy


def _scope(headers: list[tuple[bytes, bytes]]) -> dict[str, object]:
    return {
        "method": "POST",
        "path": "/v1/models/m:predict",
        "query_string": b"a=%C3%A9",
        "headers": headers,
    }


class TestTap:
    def test_single_chunk_bodies_are_the_very_objects_received(self) -> None:
        """A one-chunk body reaches analysis as the same bytes object: nothing was copied."""
        capture = Capture(Sampler(SamplingPolicy()))
        request, answer = b'{"instances": [[1, 2]]}', b'{"predictions": [3]}'
        tap = capture.begin(_scope([(b"content-type", b"application/json")]), "r", 5.0)
        assert tap is not None
        tap.request_chunk(request)
        tap.response_start(200, [(b"content-type", b"application/json")])
        tap.response_chunk(answer)
        tap.finish(200, 0.01, 0.004, complete=True)
        (pair,) = capture.take(1)
        assert pair.request_body is request and pair.response_body is answer
        assert (pair.query, pair.started, pair.duration, pair.first_byte) == (
            "a=%C3%A9",
            5.0,
            0.01,
            0.004,
        )
        assert pair.request_headers == (("content-type", "application/json"),)

    def test_many_small_chunks_join_in_order(self) -> None:
        """Past KEPT_CHUNKS chunks (a token stream) the body is still whole and in order,
        and the marks count the bytes so far."""
        capture = Capture(Sampler(SamplingPolicy()))
        tap = capture.begin(_scope([]), "r", 0.0)
        assert tap is not None
        tap.request_chunk(b"{}")
        tap.response_start(200, [(b"Content-Type", b"Text/Event-Stream; charset=utf-8")])
        chunks = [b"data: %d\n\n" % i for i in range(3 * KEPT_CHUNKS)]
        for chunk in chunks:
            tap.response_chunk(chunk)
        tap.finish(200, 0.5, 0.01, complete=True)
        (pair,) = capture.take(1)
        assert pair.response_body == b"".join(chunks)
        assert pair.marks[-1][0] == len(pair.response_body)
        assert pair.response_content_type == "Text/Event-Stream; charset=utf-8"

    def test_trailers_added_after_the_start_are_not_captured(self) -> None:
        """Headers appended to the lists after the tap saw them (trailers) stay out of the pair."""
        capture = Capture(Sampler(SamplingPolicy()))
        request_headers = [(b"content-type", b"application/json")]
        tap = capture.begin(_scope(request_headers), "r", 0.0)
        assert tap is not None
        response_headers: list[tuple[bytes, bytes]] = []
        tap.response_start(200, response_headers)
        request_headers.append((b"content-encoding", b"gzip"))
        response_headers.append((b"content-encoding", b"gzip"))
        tap.response_chunk(b"{}")
        tap.finish(200, 0.01, 0.004, complete=True)
        (pair,) = capture.take(1)
        assert (pair.request_encoding, pair.response_encoding) == ("", "")
        assert pair.request_headers == (("content-type", "application/json"),)

    def test_a_known_length_skips_the_header_scan(self) -> None:
        """A Content-Length the proxy parsed already is used as given (None: none declared)."""
        capture = Capture(Sampler(SamplingPolicy()), max_bytes=10)
        scope = _scope([(b"content-length", b"5")])
        assert capture.begin(scope, "r", 0.0, length=11) is None
        assert capture.dropped["too_large"] == 1
        assert capture.begin(scope, "s", 0.0, length=None) is not None
