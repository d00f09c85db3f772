"""Request smuggling: ambiguous framing and malformed headers get 400 and never reach upstream.

The proxy port's HTTP parser (uvicorn with httptools/llhttp in strict mode) rejects every case
below before the request reaches the forwarder, so no check in sidecar/proxy/forwarder.py is
needed; this suite pins that down against a raw upstream that records every byte it receives.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from robust_tools import RecordingUpstream, exchange
from servers import SidecarHandle, running_sidecar

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
START = b"POST /a HTTP/1.1\r\nHost: x\r\n"

REJECTED = {
    "content-length and transfer-encoding": START
    + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    + SMUGGLED,
    "transfer-encoding and content-length": START
    + b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n"
    + SMUGGLED,
    "two different content-lengths": START
    + b"Content-Length: 4\r\nContent-Length: 40\r\n\r\nabcd"
    + SMUGGLED,
    "two equal content-lengths": START + b"Content-Length: 4\r\nContent-Length: 4\r\n\r\nabcd",
    "content-length list": START + b"Content-Length: 4, 40\r\n\r\nabcd" + SMUGGLED,
    "negative content-length": START + b"Content-Length: -1\r\n\r\nabcd",
    "signed content-length": START + b"Content-Length: +4\r\n\r\nabcd",
    "unknown transfer-coding": START + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" + SMUGGLED,
    "chunked not last": START + b"Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" + SMUGGLED,
    "two transfer-encodings": START
    + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n"
    + SMUGGLED,
    "space before the colon": START + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n" + SMUGGLED,
    "space in a header name": b"GET /a HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\n",
    "separator in a header name": b"GET /a HTTP/1.1\r\nHost: x\r\nBad(Name): y\r\n\r\n",
    "NUL in a header value": b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "bare CR in a header value": b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",
    "bare LF inside the header block": b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\nX-B: 1\r\n\r\n",
    "obs-fold": b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
    "obs-fold of transfer-encoding": START
    + b"Transfer-Encoding:\r\n chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
    "bare LF line endings": b"GET /a HTTP/1.1\nHost: x\nX-B: 1\n\n",
    "bad chunk size": START + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n" + SMUGGLED,
}


@pytest.fixture(scope="module")
def recording() -> Iterator[RecordingUpstream]:
    """The raw recording upstream."""
    upstream = RecordingUpstream()
    yield upstream
    upstream.close()


@pytest.fixture(scope="module")
def guarded(recording: RecordingUpstream) -> Iterator[SidecarHandle]:
    """A sidecar in front of the recording upstream."""
    with running_sidecar(recording.url) as handle:
        yield handle


def _port(handle: SidecarHandle) -> int:
    return int(handle.url.rsplit(":", 1)[1])


def _settled(recording: RecordingUpstream) -> bytes:
    # Give a forwarded request (if any got through) time to arrive before looking.
    time.sleep(0.2)
    return recording.everything()


class TestSmuggling:
    @pytest.mark.parametrize("case", sorted(REJECTED))
    def test_ambiguous_or_malformed_request_is_400_and_never_forwarded(
        self, case: str, guarded: SidecarHandle, recording: RecordingUpstream
    ) -> None:
        """The proxy answers 400 (one response only) and the upstream receives no byte."""
        recording.received.clear()
        answer = exchange(_port(guarded), REJECTED[case])
        assert answer.startswith(b"HTTP/1.1 400 ")
        assert answer.count(b"HTTP/1.1 ") == 1
        assert _settled(recording) == b""

    def test_http10_chunked_body_is_one_request_and_nothing_is_smuggled(
        self, guarded: SidecarHandle, recording: RecordingUpstream
    ) -> None:
        """HTTP/1.0 with chunked framing: at most one request reaches the upstream, never two."""
        recording.received.clear()
        raw = b"POST /a HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        exchange(_port(guarded), raw + SMUGGLED)
        seen = _settled(recording)
        assert b"/smuggled" not in seen and seen.count(b" HTTP/1.1\r\n") <= 1

    def test_a_well_formed_request_still_goes_through(
        self, guarded: SidecarHandle, recording: RecordingUpstream
    ) -> None:
        """The control case: a clean request is forwarded and answered 200."""
        recording.received.clear()
        answer = exchange(
            _port(guarded), b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"ok")
        assert b"GET /ok " in _settled(recording)
