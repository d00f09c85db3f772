"""The forwarding path: a raw ASGI app that streams requests to the upstream with aiohttp.

Guarantees:
- method, raw path and query (percent-encoding as sent), headers (order and repeats; hop-by-hop
  removed, X-Forwarded-* appended, Host kept) and body reach the upstream unchanged; status,
  headers and body come back unchanged (header names lower-cased, as HTTP/2 would);
- bodies of known length up to `SMALL_BODY` (64 KiB) are read in one piece, everything else
  streams chunk by chunk both ways, so memory stays flat for any body size;
- no decompression on the forward path (`auto_decompress=False`);
- upstream failures map here and only here: unreachable -> 502 `upstream_unavailable`, slow ->
  504 `upstream_timeout`, death mid-response -> the client connection is aborted, never finished
  as if complete; a client that goes away cancels the upstream request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
from yarl import URL

from sidecar.proxy.headers import (
    content_length,
    header_value,
    strip_hop_by_hop,
    upstream_request_headers,
)

if TYPE_CHECKING:
    from sidecar.capture import Capture, Tap
    from sidecar.export.telemetry import HttpMetrics

log = logging.getLogger("sidecar.proxy")

_random_bits = random.getrandbits

SMALL_BODY = 64 * 1024
"""Bodies of known length up to this size are read whole: about twice as fast as streaming."""

WATCH_AFTER = 0.05
"""Seconds after which an exchange starts watching for its client going away."""

SKIP_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")
NO_BODY_STATUSES = frozenset({204, 304})

Scope = dict[str, Any]
Message = dict[str, Any]


class ClientGone(Exception):
    """The client disconnected before its request body was complete."""


@dataclass(frozen=True, slots=True)
class ProxySettings:
    """What the forwarding path needs to know."""

    upstream: str
    connect_timeout: float = 5.0
    read_timeout: float = 300.0
    host_header: str | None = None
    max_connections: int = 1024
    request_id_header: str = "x-request-id"
    drop_headers: frozenset[bytes] = frozenset()


def error_response(
    status: int, error: str, detail: str
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """A JSON error answer of the proxy itself."""
    body = json.dumps({"error": error, "detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return status, headers, body


def mint_request_id() -> str:
    """A new random request id (128 bits, hex).

    Ids correlate labels with predictions; they need uniqueness, not secrecy, so the Mersenne
    Twister serves (os.urandom's syscall cost 6% of the event loop's time).
    """
    return f"{_random_bits(128):032x}"


class Forwarder:
    """The raw ASGI application of the proxy port."""

    def __init__(
        self,
        settings: ProxySettings,
        metrics: HttpMetrics | None = None,
        capture: Capture | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.capture = capture
        # None unless an OTLP traces endpoint is configured: one `is None` test per request.
        self.tracer = metrics.tracer if metrics is not None else None
        self.session: aiohttp.ClientSession | None = None
        self._base = settings.upstream.rstrip("/")
        self._rid = settings.request_id_header.lower().encode("latin-1")

    async def startup(self) -> None:
        """Open the one upstream session of this process (inside the running loop)."""
        connector = aiohttp.TCPConnector(
            limit=self.settings.max_connections,
            limit_per_host=0,
            ttl_dns_cache=60,
            enable_cleanup_closed=False,
            keepalive_timeout=30,
        )
        self.session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(
                total=None,
                connect=None,
                sock_connect=self.settings.connect_timeout,
                sock_read=self.settings.read_timeout,
            ),
            skip_auto_headers=SKIP_AUTO_HEADERS,
        )

    async def shutdown(self) -> None:
        """Close the upstream session and its connections."""
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1003})
            return
        task = asyncio.current_task()
        exchange = _Exchange(self, scope, receive, send)
        try:
            await exchange.run()
        except asyncio.CancelledError:
            # Cancelled by our own disconnect watcher: the client is gone, nothing to answer.
            if task is not None and exchange.client_gone and task.uncancel() == 0:
                return
            raise
        finally:
            exchange.finish()


class _Exchange:
    """One request/response through the proxy."""

    def __init__(self, app: Forwarder, scope: Scope, receive: Any, send: Any) -> None:
        self.app = app
        self.scope = scope
        self.receive = receive
        self.send = send
        self.started = time.perf_counter()
        self.wall_start = time.time()
        self.status = 0
        self.request_bytes = 0
        self.response_bytes = 0
        self.upstream_seconds: float | None = None
        self.error_kind: str | None = None
        self.client_gone = False
        self.done = False
        self.first_byte: float | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._watch_timer: asyncio.TimerHandle | None = None
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        incoming_id = header_value(headers, app._rid)
        self.minted = incoming_id is None
        self.request_id = (
            mint_request_id() if incoming_id is None else incoming_id.decode("latin-1")
        )
        self.task = asyncio.current_task()
        self.tap: Tap | None = (
            app.capture.begin(scope, self.request_id, self.wall_start) if app.capture else None
        )
        self.span = (
            None
            if app.tracer is None
            else app.tracer.start(scope, self.request_id, self.tap is not None)
        )
        if app.metrics is not None:
            app.metrics.started(scope["method"])

    async def run(self) -> None:
        app, scope = self.app, self.scope
        assert app.session is not None, "Forwarder.startup() was not awaited"
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        out_headers = upstream_request_headers(
            headers,
            (scope.get("client") or (None,))[0],
            scope.get("scheme", "http"),
            app.settings.host_header,
            app.settings.drop_headers,
        )
        if self.minted:
            out_headers.append((app.settings.request_id_header, self.request_id))
        length = content_length(headers)
        chunked = header_value(headers, b"transfer-encoding") is not None
        data: bytes | AsyncIterator[bytes] | None
        if length is not None and length <= SMALL_BODY:
            data = await self._read_small()
            self._watch()
        elif length is None and not chunked:
            data = None
            self._watch()
        else:
            data = self._stream_request()
        target = app._base + scope["raw_path"].decode("latin-1")
        if scope["query_string"]:
            target += "?" + scope["query_string"].decode("latin-1")
        await self._forward(URL(target, encoded=True), out_headers, data)

    async def _read_small(self) -> bytes:
        parts: list[bytes] = []
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                self.client_gone = True
                raise ClientGone
            parts.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = parts[0] if len(parts) == 1 else b"".join(parts)
        self.request_bytes = len(body)
        if self.tap is not None:
            self.tap.request_chunk(body)
        return body

    async def _stream_request(self) -> AsyncIterator[bytes]:
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                self.client_gone = True
                raise ClientGone
            chunk = message.get("body", b"")
            if chunk:
                self.request_bytes += len(chunk)
                if self.tap is not None:
                    self.tap.request_chunk(chunk)
                yield chunk
            if not message.get("more_body", False):
                self._watch()
                return

    def _watch(self) -> None:
        """After the body is read, watch for the client going away and cancel this exchange.

        The watcher task starts only once the exchange has lasted `WATCH_AFTER`: a task per
        request cost 22% of the proxy's throughput, and most answers come sooner. A client that
        leaves earlier is noticed at that point (uvicorn remembers the disconnect).
        """
        if self.task is not None and self._watch_timer is None:
            loop = asyncio.get_running_loop()
            self._watch_timer = loop.call_later(WATCH_AFTER, self._start_watcher)

    def _start_watcher(self) -> None:
        if self.task is not None and self._watcher is None and not self.done:
            self._watcher = asyncio.ensure_future(self._watch_disconnect(self.task))

    async def _watch_disconnect(self, task: asyncio.Task[Any]) -> None:
        message = await self.receive()
        if message["type"] == "http.disconnect" and not self.done:
            self.client_gone = True
            task.cancel()

    async def _forward(
        self, url: URL, headers: list[tuple[str, str]], data: bytes | AsyncIterator[bytes] | None
    ) -> None:
        app = self.app
        assert app.session is not None
        method = self.scope["method"]
        sent_at = time.perf_counter()
        attempts = 2 if data is None or isinstance(data, bytes) else 1
        for attempt in range(attempts):
            try:
                async with app.session.request(
                    method,
                    url,
                    headers=headers,
                    data=data,
                    allow_redirects=False,
                ) as response:
                    self.upstream_seconds = time.perf_counter() - sent_at
                    await self._relay(response, method)
                    return
            except ClientGone:
                self.error_kind = "client_aborted"
                return
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                # A pooled keep-alive connection the upstream had closed: retry a buffered request
                # once, on a fresh connection. Connect failures (ClientConnectorError) never retry.
                retryable = not isinstance(exc, aiohttp.ClientConnectorError)
                if self.status or not retryable or attempt + 1 >= attempts:
                    await self._fail(exc)
                    return
            except (TimeoutError, aiohttp.ClientError) as exc:
                await self._fail(exc)
                return

    async def _relay(self, response: aiohttp.ClientResponse, method: str) -> None:
        headers = strip_hop_by_hop(list(response.raw_headers))
        if self.minted:
            headers.append((self.app._rid, self.request_id.encode("latin-1")))
        status = response.status
        no_body = method == "HEAD" or status in NO_BODY_STATUSES or 100 <= status < 200
        length = response.content_length
        if self.tap is not None:
            self.tap.response_start(status, headers)
        if no_body or (length is not None and length <= SMALL_BODY):
            body = b"" if no_body else await response.read()
            self._response_chunk(body)
            self.status = status
            self.done = True
            await self.send({"type": "http.response.start", "status": status, "headers": headers})
            await self.send({"type": "http.response.body", "body": body, "more_body": False})
            return
        await self.send({"type": "http.response.start", "status": status, "headers": headers})
        self.status = status
        async for chunk in response.content.iter_any():
            self._response_chunk(chunk)
            await self.send({"type": "http.response.body", "body": chunk, "more_body": True})
        self.done = True
        await self.send({"type": "http.response.body", "body": b"", "more_body": False})

    def _response_chunk(self, chunk: bytes) -> None:
        if self.first_byte is None:
            self.first_byte = time.perf_counter() - self.started
        self.response_bytes += len(chunk)
        if self.tap is not None:
            self.tap.response_chunk(chunk)

    async def _fail(self, exc: BaseException) -> None:
        """Map an upstream failure to an answer (or an abort once the response has started)."""
        if self.client_gone:
            self.error_kind = "client_aborted"
            return
        if self.status:
            # Headers already went out: abort the connection rather than finish a truncated body.
            self.error_kind = "aborted"
            log.warning("upstream aborted mid-response: %s", type(exc).__name__)
            return
        if isinstance(exc, asyncio.TimeoutError):
            self.error_kind = "timeout"
            answer = error_response(504, "upstream_timeout", _describe(exc, self.app.settings))
        else:
            self.error_kind = "unavailable"
            answer = error_response(502, "upstream_unavailable", _describe(exc, self.app.settings))
        self.status, headers, body = answer
        self.done = True
        await self.send({"type": "http.response.start", "status": self.status, "headers": headers})
        await self.send({"type": "http.response.body", "body": body, "more_body": False})

    def finish(self) -> None:
        """Record metrics and hand the capture tap over; never raises into the request."""
        if self._watch_timer is not None:
            self._watch_timer.cancel()
        if self._watcher is not None and not self._watcher.done():
            self._watcher.cancel()
        if self.client_gone and self.error_kind is None:
            self.error_kind = "client_aborted"
        duration = time.perf_counter() - self.started
        try:
            if self.app.metrics is not None:
                self.app.metrics.record(
                    self.scope["method"],
                    self.scope["path"],
                    self.status,
                    duration,
                    self.upstream_seconds,
                    self.request_bytes,
                    self.response_bytes,
                    self.error_kind,
                    self.span,
                )
            if self.span is not None:
                self._end_span()
            if self.tap is not None:
                ok = self.error_kind is None and self.status > 0
                self.tap.finish(self.status, duration, self.first_byte, complete=ok)
        except Exception:  # monitoring never fails a request
            log.exception("monitoring failed after a request")

    def _end_span(self) -> None:
        """End this request's trace span with its outcome."""
        assert self.span is not None and self.app.tracer is not None
        self.app.tracer.end(
            self.span, self.status, self.error_kind, self.request_bytes, self.response_bytes
        )


def _describe(exc: BaseException, settings: ProxySettings) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return (
            f"no answer from {settings.upstream} within the timeout "
            f"(connect {settings.connect_timeout:g} s, read {settings.read_timeout:g} s)"
        )
    text = str(exc) or type(exc).__name__
    return f"cannot reach {settings.upstream}: {text}"
