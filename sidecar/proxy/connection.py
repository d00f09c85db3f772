"""One keep-alive HTTP/1.1 connection to the upstream: an `asyncio.Protocol` fed to httptools.

Guarantees:
- one request at a time; the response is parsed by llhttp (strict: a response with both
  Content-Length and Transfer-Encoding, duplicate lengths or bad chunking is a parse error);
- interim 1xx answers are skipped, HEAD/204/304 answers carry no body, an answer without length
  is read until the upstream closes;
- response headers over `MAX_HEAD_BYTES` (64 KiB) are an error, hop-by-hop headers are dropped
  as they are parsed and names are lower-cased;
- reading pauses while more than `HIGH_WATER` (256 KiB) of body waits for the client, and
  uploads wait while the transport asks to pause writing;
- the connection is `reusable` only when its last response was read to its end, the upstream
  allowed keep-alive and no byte arrived beyond that response; any byte arriving while idle or
  after the response (an unsolicited answer) marks it for discarding with a reason;
- no byte from the upstream within `read_timeout` seconds while an answer is awaited fails it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import cast

import httptools

from sidecar.proxy.asgi import RawHeaders
from sidecar.proxy.headers import HOP_BY_HOP, connection_tokens

MAX_HEAD_BYTES = 64 * 1024
"""Largest response head (status line and headers) accepted from the upstream."""

HIGH_WATER = 256 * 1024
"""Buffered response bytes at which reading from the upstream pauses."""


_PLAIN_CONNECTION = frozenset({b"keep-alive", b"Keep-Alive", b"close", b"Close"})
"""`Connection` values that name no other header (the common case, no split needed)."""


class UpstreamError(Exception):
    """The upstream failed this exchange; `str()` is the reason, for the 502 detail and log."""


class UpstreamUnavailable(UpstreamError):
    """Refused, reset, closed or answered something that is not HTTP (502)."""


class UpstreamClosed(UpstreamUnavailable):
    """The connection closed before any byte of the response arrived."""


class UpstreamTimeout(UpstreamError):
    """No connection, or no bytes, within the timeout (504)."""


class _Invalid(Exception):
    """Raised inside a parser callback: the response is not one this client accepts."""


class _Unsolicited(Exception):
    """Raised inside a parser callback: bytes beyond the response that was asked for."""


class UpstreamConnection(asyncio.Protocol):
    """A pooled connection; `Pool` acquires it, the forwarder runs one exchange on it."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        read_timeout: float,
        watch_header: bytes,
        on_lost: Callable[[UpstreamConnection], None],
    ) -> None:
        self.loop = loop
        self.read_timeout = read_timeout
        self.watch_header = watch_header
        self.on_lost = on_lost
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.busy = False
        self.reused = False
        self.counted = True
        self.discard: str | None = None
        self.idle_since = 0.0
        self._waiter: asyncio.Future[None] | None = None
        self._drain: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._last_io = 0.0
        self.reading_paused = False
        self.writing_paused = False
        self._reset(False)

    def _reset(self, no_body: bool) -> None:
        self.status = 0
        self.headers: RawHeaders = []
        self.has_watched = False
        self.keep_alive = False
        self.chunked = False
        self.length: int | None = None
        self.received = False
        self.head_done = False
        self.complete = False
        self.error: UpstreamError | None = None
        self.no_body = no_body
        self._head_bytes = 0
        self._tokens: frozenset[bytes] = frozenset()
        self._body: list[bytes] = []
        self.buffered = 0

    # Exchange side, used by the forwarder.
    def begin(self, data: bytes, no_body: bool) -> None:
        """Start an exchange: send the request head (and a small body) in one write."""
        if self.transport is None:  # closed while being handed from one exchange to the next
            self.discard = self.discard or "closed"
            raise UpstreamClosed("closed the connection")
        self._reset(no_body)
        self.busy = True
        self._last_io = self.loop.time()
        if self._timer is None:
            self._timer = self.loop.call_later(self.read_timeout, self._check_timeout)
        self.transport.write(data)

    def write(self, data: bytes) -> None:
        """Send more request bytes (dropped once the upstream answered: it wants no more)."""
        if self.error is not None:
            raise self.error
        if self.complete or self.transport is None:
            self.discard = self.discard or "unread"
            return
        self._last_io = self.loop.time()
        self.transport.write(data)

    async def drain(self) -> None:
        """Wait while the transport asks to pause writing (the upstream reads slowly)."""
        while self.writing_paused and self.error is None:
            self._drain = self.loop.create_future()
            await self._drain
        if self.error is not None:
            raise self.error

    async def wait_head(self) -> None:
        """Wait for the status and headers of the final response (raises `UpstreamError`)."""
        while not self.head_done:
            if self.error is not None:
                raise self.error
            await self._wait()

    async def read(self) -> bytes:
        """The next body bytes that arrived; b"" once the body is complete."""
        while not self._body:
            if self.complete:
                return b""
            if self.error is not None:
                raise self.error
            await self._wait()
        body = self._body
        chunk = body[0] if len(body) == 1 else b"".join(body)
        self._body = []
        self.buffered = 0
        if self.reading_paused and self.transport is not None:
            self.reading_paused = False
            self._last_io = self.loop.time()
            self.transport.resume_reading()
        return chunk

    async def read_all(self) -> bytes:
        """The whole (small) body."""
        while not self.complete:
            if self.error is not None:
                raise self.error
            await self._wait()
        body = self._body
        self._body = []
        return body[0] if len(body) == 1 else b"".join(body)

    async def _wait(self) -> None:
        self._waiter = self.loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def finish(self) -> None:
        """End the exchange: decide whether the connection may serve another request."""
        self.busy = False
        self.reused = True
        if self.discard is None:
            if self.error is not None:
                self.discard = "error"
            elif not self.complete or self._body:
                self.discard = "unread"
            elif not self.keep_alive:
                self.discard = "close"
            elif self.no_body:
                self.discard = "head"

    @property
    def reusable(self) -> bool:
        """Whether the last response was read to its end and nothing else arrived."""
        return self.discard is None and self.transport is not None

    def close(self) -> None:
        """Close the transport (idempotent)."""
        if self.transport is not None:
            self.transport.close()

    def _fail(self, error: UpstreamError, reason: str) -> None:
        if self.error is None and not self.complete:
            self.error = error
        if self.discard is None:
            self.discard = reason
        self._wake()
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_result(None)

    def _check_timeout(self) -> None:
        self._timer = None
        if not self.busy or self.complete or self.transport is None:
            return
        if self.reading_paused:  # the client is slow, not the upstream
            self._last_io = self.loop.time()
        left = self._last_io + self.read_timeout - self.loop.time()
        if left > 0:
            self._timer = self.loop.call_later(left, self._check_timeout)
            return
        self._fail(UpstreamTimeout(f"no bytes within {self.read_timeout:g} s"), "timeout")
        self.transport.close()

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast("asyncio.Transport", transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.busy and self.head_done and not self.complete and self._reads_to_close:
            self.complete = True  # a response without length ends when the upstream closes
            self._wake()
        elif self.busy:
            reason = "closed the connection" if exc is None else socket_reason(exc)
            error_type = UpstreamUnavailable if self.received else UpstreamClosed
            suffix = "" if not self.received else " mid-response"
            self._fail(error_type(reason + suffix), "closed")
        elif self.discard is None:
            self.discard = "closed"
        self.on_lost(self)

    @property
    def _reads_to_close(self) -> bool:
        return not self.keep_alive and self.length is None and not self.chunked

    def data_received(self, data: bytes) -> None:
        if not self.busy or self.complete:
            self._unsolicited()
            return
        self.received = True
        self._last_io = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, _Invalid):
                self._protocol_error(str(exc.__context__))
            else:
                self._unsolicited()
        except httptools.HttpParserError as exc:
            if self.complete:
                self._unsolicited()
            else:
                self._protocol_error(f"invalid response ({exc})")
        except httptools.HttpParserUpgrade:
            self._protocol_error("unexpected protocol upgrade")

    def _unsolicited(self) -> None:
        """Bytes nobody asked for: never let them reach another request."""
        self.discard = "unsolicited"
        if not self.busy:
            self.close()
        else:
            self._wake()

    def _protocol_error(self, text: str) -> None:
        self._fail(UpstreamUnavailable(text), "invalid")
        self.close()

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_result(None)

    # httptools callbacks
    def on_message_begin(self) -> None:
        if self.complete:
            raise _Unsolicited

    def on_status(self, status: bytes) -> None:
        self._head_bytes += len(status)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value) + 4
        if self._head_bytes > MAX_HEAD_BYTES:
            raise _Invalid(f"response head over {MAX_HEAD_BYTES // 1024} KiB")
        name = name.lower()
        if name in HOP_BY_HOP:
            if name == b"connection" and value not in _PLAIN_CONNECTION:
                self._tokens = self._tokens | connection_tokens(value)
            elif name == b"transfer-encoding":
                self.chunked = True
            return
        if name == self.watch_header:
            self.has_watched = True
        elif name == b"content-length":
            if not value.isdigit():  # llhttp checks it too; never let a ValueError escape
                raise _Invalid("invalid Content-Length")
            self.length = int(value)
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self.parser
        status = parser.get_status_code()
        if status == 101:
            raise _Invalid("unexpected protocol switch (101)")
        if status < 200:
            return  # interim answer: its completion resets the head
        self.status = status
        self.keep_alive = parser.should_keep_alive()
        if self._tokens - {b"keep-alive", b"close"}:
            self.headers = [(n, v) for n, v in self.headers if n not in self._tokens]
        self.head_done = True
        if self.no_body:
            # A HEAD answer ends with its head. The parser cannot be told so and may wait for
            # the announced length: the connection is not reused (`finish`).
            self.complete = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self.complete:
            if self.no_body:
                return
            raise _Unsolicited
        self._body.append(body)
        self.buffered += len(body)
        if self.buffered > HIGH_WATER and not self.reading_paused and self.transport:
            self.reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self.complete:
            if self.no_body:
                return
            raise _Unsolicited
        if not self.head_done:  # an interim 1xx answer ended: wait for the final one
            self.headers = []
            self._head_bytes = 0
            self._tokens = frozenset()
            self.chunked = self.has_watched = False
            self.length = None
            return
        self.complete = True
        self._wake()


def socket_reason(exc: BaseException) -> str:
    """A short lower-case reason for a socket error, e.g. "connection refused".

    From the errno when there is one: asyncio words a refused connect "Connect call failed
    ('127.0.0.1', 8080)", uvloop "Connection refused".
    """
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno).lower()
    return (str(exc) or type(exc).__name__).lower()
