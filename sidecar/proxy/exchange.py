"""One request/response through the proxy: read, forward over the pool, relay, record.

Guarantees are stated in `sidecar.proxy.forwarder`; the numbers live here: bodies up to
`SMALL_BODY` (64 KiB) are buffered, the disconnect watcher starts 50-100 ms (`WATCH_AFTER` to
twice that) after the request body was read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sidecar.decoders.payload import sse_finished
from sidecar.proxy.answers import FailureLog, error_response, mint_request_id
from sidecar.proxy.connection import (
    UpstreamClosed,
    UpstreamConnection,
    UpstreamError,
    UpstreamTimeout,
)
from sidecar.proxy.headers import encode_head, framing, upstream_request_headers
from sidecar.proxy.pool import Pool
from sidecar.proxy.settings import ProxySettings

if TYPE_CHECKING:
    from sidecar.capture import Capture, Tap
    from sidecar.proxy.asgi import Message, Receive, Scope, Send
    from sidecar.proxy.observers import ProxyMetrics, ProxyTracer

log = logging.getLogger("sidecar.proxy")

SMALL_BODY = 64 * 1024
"""Bodies of known length up to this size are read whole: about twice as fast as streaming."""

WATCH_AFTER = 0.05
"""Seconds after which an exchange starts watching for its client going away."""

_END: Message = {"type": "http.response.body", "body": b"", "more_body": False}


class ClientGone(Exception):
    """The client disconnected before its request body was complete."""


@dataclass(slots=True)
class Route:
    """What every exchange of one forwarder shares, and the timer that finds slow ones."""

    settings: ProxySettings
    pool: Pool
    metrics: ProxyMetrics | None
    capture: Capture | None
    tracer: ProxyTracer | None
    rid: bytes
    failures: FailureLog
    watching: set[Exchange] = field(default_factory=set)
    _ticker: asyncio.TimerHandle | None = None
    # Encoded once rather than per request.
    host_header: bytes | None = field(init=False)
    default_host: bytes = field(init=False)
    base_path: bytes = field(init=False)

    def __post_init__(self) -> None:
        host = self.settings.host_header
        self.host_header = None if host is None else host.encode("latin-1")
        self.default_host = self.pool.target.netloc.encode("latin-1")
        self.base_path = self.pool.target.base_path.encode("latin-1")

    def watch(self, exchange: Exchange) -> None:
        """Have `exchange` watched for its client leaving once it is `WATCH_AFTER` old."""
        self.watching.add(exchange)
        if self._ticker is None:
            self._ticker = asyncio.get_running_loop().call_later(WATCH_AFTER, self._tick)

    def _tick(self) -> None:
        self._ticker = None
        due = time.perf_counter() - WATCH_AFTER
        for exchange in [e for e in self.watching if e.started <= due]:
            self.watching.discard(exchange)
            exchange.start_watcher()
        if self.watching:
            self._ticker = asyncio.get_running_loop().call_later(WATCH_AFTER, self._tick)


class Exchange:
    """One request/response through the proxy."""

    __slots__ = (
        "_watcher",
        "chunked",
        "client_gone",
        "done",
        "error_kind",
        "first_byte",
        "last_chunks",
        "length",
        "minted",
        "receive",
        "request_bytes",
        "request_id",
        "request_id_bytes",
        "response_bytes",
        "route",
        "scope",
        "send",
        "span",
        "started",
        "status",
        "tap",
        "task",
        "upstream_seconds",
    )

    def __init__(
        self,
        route: Route,
        scope: Scope,
        receive: Receive,
        send: Send,
        task: asyncio.Task[Any] | None,
    ) -> None:
        self.route = route
        self.scope = scope
        self.receive = receive
        self.send = send
        self.started = time.perf_counter()
        self.status = 0
        self.request_bytes = 0
        self.response_bytes = 0
        self.upstream_seconds: float | None = None
        self.error_kind: str | None = None
        self.client_gone = False
        self.done = False
        self.first_byte: float | None = None
        self.last_chunks: tuple[bytes, bytes] | None = None
        self._watcher: asyncio.Task[None] | None = None
        incoming_id, self.length, self.chunked = framing(scope["headers"], route.rid)
        self.minted = incoming_id is None
        if incoming_id is None:
            self.request_id = mint_request_id()
            self.request_id_bytes = self.request_id.encode("latin-1")
        else:
            self.request_id = incoming_id.decode("latin-1")
            self.request_id_bytes = incoming_id
        self.task = task
        capture = route.capture
        self.tap: Tap | None = (
            None
            if capture is None
            else capture.begin(scope, self.request_id, time.time(), self.length)
        )
        self.span: Any = (
            None
            if route.tracer is None
            else route.tracer.start(scope, self.request_id, self.tap is not None)
        )
        if route.metrics is not None:
            route.metrics.started(scope["method"])

    async def run(self) -> None:
        """Read the request, forward it, relay the answer (or a 502/504)."""
        route, scope = self.route, self.scope
        client = scope.get("client")
        out = upstream_request_headers(
            scope["headers"],
            None if client is None else client[0],
            scope.get("scheme", "http"),
            route.host_header,
            route.settings.drop_headers,
            route.default_host,
        )
        if self.minted:
            out.append((route.rid, self.request_id_bytes))
        query = scope["query_string"]
        target = route.base_path + scope["raw_path"] + (b"?" + query if query else b"")
        length, chunked = self.length, self.chunked
        method: str = scope["method"]
        try:
            if length is not None and length <= SMALL_BODY:
                message = await self.receive()
                if message["type"] == "http.request" and not message.get("more_body", False):
                    body = message.get("body", b"")  # the usual case: no loop, no join
                else:
                    body = await self._read_small(message)
                self.request_bytes = len(body)
                if self.tap is not None:
                    self.tap.request_chunk(body)
                if self.task is not None:
                    route.watch(self)
                await self._buffered(encode_head(method, target, out) + body)
            elif length is None and not chunked:
                self._watch()
                await self._buffered(encode_head(method, target, out))
            else:
                if chunked:
                    out.append((b"transfer-encoding", b"chunked"))
                await self._streamed(encode_head(method, target, out), chunked)
        except ClientGone:
            self.error_kind = "client_aborted"

    async def _read_small(self, message: Message) -> bytes:
        """The whole small body, from its first message on."""
        parts: list[bytes] = []
        while True:
            if message["type"] == "http.disconnect":
                self.client_gone = True
                raise ClientGone
            parts.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(parts)
            message = await self.receive()

    async def _buffered(self, data: bytes) -> None:
        """Send a whole request; retry once when a reused connection closed before answering."""
        pool = self.route.pool
        for attempt in (0, 1):
            try:
                conn = await pool.acquire()
            except UpstreamError as exc:
                await self._fail(exc)
                return
            reused = conn.reused
            try:
                sent_at = time.perf_counter()
                conn.begin(data, self.scope["method"] == "HEAD")
                await conn.wait_head()
                self.upstream_seconds = time.perf_counter() - sent_at
                await self._relay(conn)
                return
            except UpstreamClosed as exc:
                if not (reused and attempt == 0 and not self.status):
                    await self._fail(exc)
                    return
            except UpstreamError as exc:
                await self._fail(exc)
                return
            finally:
                pool.release(conn)

    async def _streamed(self, head: bytes, chunked: bool) -> None:
        """Send a request whose body streams from the client as it arrives (never retried).

        The head leaves with the first body bytes: a request whose body turns out malformed
        (the server answers 400) never reaches the upstream.
        """
        first, more = await self._next_chunk(chunked)
        pool = self.route.pool
        try:
            conn = await pool.acquire()
        except UpstreamError as exc:
            await self._fail(exc)
            return
        try:
            sent_at = time.perf_counter()
            conn.begin(head + first, self.scope["method"] == "HEAD")
            while more:
                chunk, more = await self._next_chunk(chunked)
                if chunk:
                    conn.write(chunk)
                    await conn.drain()
            self._watch()
            await conn.wait_head()
            self.upstream_seconds = time.perf_counter() - sent_at
            await self._relay(conn)
        except UpstreamError as exc:
            await self._fail(exc)
        finally:
            pool.release(conn)

    async def _next_chunk(self, chunked: bool) -> tuple[bytes, bool]:
        """The next request body bytes, chunk-encoded if `chunked`, and whether more follow."""
        message = await self.receive()
        if message["type"] == "http.disconnect":
            self.client_gone = True
            raise ClientGone
        chunk: bytes = message.get("body", b"")
        more: bool = message.get("more_body", False)
        if chunk:
            self.request_bytes += len(chunk)
            if self.tap is not None:
                self.tap.request_chunk(chunk)
            if chunked:
                chunk = b"%x\r\n%b\r\n" % (len(chunk), chunk)
        if chunked and not more:
            chunk += b"0\r\n\r\n"
        return chunk, more

    async def _relay(self, conn: UpstreamConnection) -> None:
        status, headers = conn.status, conn.headers
        if not conn.has_watched:
            headers.append((self.route.rid, self.request_id_bytes))
        if self.tap is not None:
            self.tap.response_start(status, headers)
        length = conn.length
        if conn.complete or (length is not None and length <= SMALL_BODY):
            body = await conn.read_all()
            self._response_chunk(body)
            self.status = status
            self.done = True
            await self.send({"type": "http.response.start", "status": status, "headers": headers})
            await self.send({"type": "http.response.body", "body": body, "more_body": False})
            return
        await self.send({"type": "http.response.start", "status": status, "headers": headers})
        self.status = status
        last = b""
        while chunk := await conn.read():
            self._response_chunk(chunk)
            self.last_chunks = last, chunk
            last = chunk
            await self.send({"type": "http.response.body", "body": chunk, "more_body": True})
        self.done = True
        await self.send(_END)

    def _response_chunk(self, chunk: bytes) -> None:
        if self.first_byte is None:
            self.first_byte = time.perf_counter() - self.started
        self.response_bytes += len(chunk)
        if self.tap is not None:
            self.tap.response_chunk(chunk)

    async def _fail(self, exc: UpstreamError) -> None:
        """Map an upstream failure to an answer (or an abort once the response has started)."""
        settings = self.route.settings
        detail = f"upstream {self.route.pool.target.netloc}: {exc}"
        if self.client_gone:
            self.error_kind = "client_aborted"
            return
        if self.status:
            # Headers already went out: abort the connection rather than finish a truncated body.
            self.error_kind = "aborted"
            log.warning("upstream aborted mid-response: %s", detail)
            return
        if isinstance(exc, UpstreamTimeout):
            self.error_kind = "timeout"
            detail += f" (connect {settings.connect_timeout:g} s, read {settings.read_timeout:g} s)"
            answer = error_response(504, "upstream_timeout", detail)
        else:
            self.error_kind = "unavailable"
            answer = error_response(502, "upstream_unavailable", detail)
        self.route.failures.warn(answer[0], detail)
        self.status, headers, body = answer
        self.done = True
        await self.send({"type": "http.response.start", "status": self.status, "headers": headers})
        await self.send({"type": "http.response.body", "body": body, "more_body": False})

    def _watch(self) -> None:
        """After the body is read, watch for the client going away and cancel this exchange.

        A watcher task starts only for exchanges older than `WATCH_AFTER` (one shared timer
        finds them): a task per request cost 22% of the proxy's throughput, and a timer per
        request cost more than the rest of the bookkeeping; most answers come sooner. A client
        that leaves earlier is noticed at that point (uvicorn remembers the disconnect).
        """
        if self.task is not None:
            self.route.watch(self)

    def start_watcher(self) -> None:
        """Start the task that waits for `http.disconnect` (called by `Route`'s timer)."""
        if self.task is not None and self._watcher is None and not self.done:
            self._watcher = asyncio.ensure_future(self._watch_disconnect(self.task))

    async def _watch_disconnect(self, task: asyncio.Task[Any]) -> None:
        message = await self.receive()
        if message["type"] == "http.disconnect" and not self.done:
            self.client_gone = True
            task.cancel()

    def _stream_ended(self) -> bool:
        """Whether a streamed 2xx answer had relayed its end-of-stream event (`[DONE]`, a
        terminal Responses event): the openai SDK closes the connection right then, before the
        body's final empty chunk, and the answer it got is whole."""
        tail = self.last_chunks
        return tail is not None and 200 <= self.status < 300 and sse_finished(tail[0] + tail[1])

    def finish(self) -> None:
        """Record metrics and hand the capture tap over; never raises into the request."""
        self.route.watching.discard(self)
        if self._watcher is not None and not self._watcher.done():
            self._watcher.cancel()
        if self.client_gone and self.error_kind is None and not self._stream_ended():
            self.error_kind = "client_aborted"
        duration = time.perf_counter() - self.started
        route = self.route
        try:
            if route.metrics is not None:
                route.metrics.record(
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
            if self.span is not None and route.tracer is not None:
                route.tracer.end(
                    self.span, self.status, self.error_kind, self.request_bytes, self.response_bytes
                )
        except Exception:  # monitoring never fails a request
            log.exception("monitoring failed after a request")
        if self.tap is not None:
            try:
                ok = self.error_kind is None and self.status > 0
                self.tap.finish(self.status, duration, self.first_byte, complete=ok)
            except Exception:
                log.exception("capture failed after a request")
