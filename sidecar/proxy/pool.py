"""The bounded pool of keep-alive connections to the one upstream (http or https).

Guarantees:
- at most `max_connections` connections exist at once, counting those being opened; requests
  beyond wait in arrival order for a released connection or slot;
- reuse is LIFO (the warmest connection first) and only of a connection that is `reusable`
  (last response read to its end, keep-alive allowed, no unsolicited byte); idle connections
  older than `idle_timeout` (default 30 s) or closed by the upstream are dropped;
- every dropped connection is counted in `discarded` by reason: `unsolicited` (bytes nobody
  asked for), `unread` (the client left before the body's end), `close` (the upstream said
  `Connection: close`), `invalid` (parse error), `timeout`, `closed` (the upstream closed it),
  `error`, `head` (after a HEAD answer), `idle` (the idle timeout), `shutdown`;
- a connection failure names host:port and the reason, e.g. "connection refused".
"""

from __future__ import annotations

import asyncio
import ssl
from collections import Counter, deque
from dataclasses import dataclass
from urllib.parse import urlsplit

from sidecar.proxy.connection import (
    UpstreamConnection,
    UpstreamTimeout,
    UpstreamUnavailable,
    socket_reason,
)

DEFAULT_IDLE_TIMEOUT = 30.0
"""Seconds an idle keep-alive connection stays pooled."""

DISCARD_REASONS = (
    "unsolicited",
    "unread",
    "close",
    "invalid",
    "timeout",
    "closed",
    "error",
    "head",
    "idle",
    "shutdown",
)
"""Why a connection left the pool (see the module docstring); exporters import these."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where the upstream is: parsed once from its URL."""

    host: str
    port: int
    tls: bool
    netloc: str
    base_path: str

    @classmethod
    def parse(cls, url: str) -> Target:
        """The target of `url` (http or https; a path prefix is kept)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream={url!r} is not an http:// or https:// URL")
        tls = parts.scheme == "https"
        port = parts.port or (443 if tls else 80)
        return cls(parts.hostname, port, tls, parts.netloc, parts.path.rstrip("/"))


class Pool:
    """Connections to one upstream, opened on demand and reused LIFO."""

    def __init__(
        self,
        target: Target,
        max_connections: int,
        connect_timeout: float,
        read_timeout: float,
        watch_header: bytes = b"",
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    ) -> None:
        self.target = target
        self.max_connections = max_connections
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.watch_header = watch_header
        self.idle_timeout = idle_timeout
        self.idle: list[UpstreamConnection] = []
        self.open = 0
        self.peak = 0
        self.discarded: Counter[str] = Counter()
        self._waiters: deque[asyncio.Future[UpstreamConnection | None]] = deque()
        self._ssl = ssl.create_default_context() if target.tls else None

    @property
    def in_use(self) -> int:
        """Connections serving an exchange (or being opened) right now."""
        return self.open - len(self.idle)

    async def acquire(self) -> UpstreamConnection:
        """A connection for one exchange: a pooled one, a new one, or one released later."""
        idle = self.idle
        if idle:
            now = asyncio.get_running_loop().time()
            while idle:
                conn = idle.pop()
                if now - conn.idle_since < self.idle_timeout and conn.reusable:
                    return conn
                self._drop(conn, "idle" if conn.reusable else conn.discard or "closed")
        if self.open >= self.max_connections:
            handed = await self._wait_turn()
            if handed is not None:
                return handed
        self.open += 1
        self.peak = max(self.peak, self.open)
        try:
            return await self._connect()
        except BaseException:
            self.open -= 1
            self._wake()
            raise

    async def _wait_turn(self) -> UpstreamConnection | None:
        """Wait for a released connection (returned) or a free slot (None, already counted)."""
        waiter: asyncio.Future[UpstreamConnection | None] = (
            asyncio.get_running_loop().create_future()
        )
        self._waiters.append(waiter)
        try:
            handed = await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                conn = waiter.result()  # handed over just as we were cancelled: pass it on
                if conn is None:
                    self.open -= 1
                    self._wake()
                else:
                    self.release(conn)
            raise
        if handed is None:
            self.open -= 1  # the slot was freed for us; `acquire` counts it again
        return handed

    async def _connect(self) -> UpstreamConnection:
        loop = asyncio.get_running_loop()
        target = self.target

        def factory() -> UpstreamConnection:
            return UpstreamConnection(loop, self.read_timeout, self.watch_header, self._lost)

        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(
                    factory,
                    target.host,
                    target.port,
                    ssl=self._ssl,
                    server_hostname=target.host if self._ssl else None,
                ),
                self.connect_timeout,
            )
        except TimeoutError:
            raise UpstreamTimeout(f"no connection within {self.connect_timeout:g} s") from None
        except OSError as exc:
            raise UpstreamUnavailable(f"cannot connect: {socket_reason(exc)}") from None
        return conn

    def release(self, conn: UpstreamConnection) -> None:
        """Take a connection back after its exchange: pooled if reusable, else closed."""
        conn.finish()
        if not conn.reusable:
            self._drop(conn, conn.discard or "closed")
            self._wake()
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        conn.idle_since = asyncio.get_running_loop().time()
        self.idle.append(conn)

    def _drop(self, conn: UpstreamConnection, reason: str) -> None:
        if conn.counted:
            conn.counted = False
            self.open -= 1
            self.discarded[reason] += 1
        conn.close()

    def _wake(self) -> None:
        """Give a freed slot to the oldest waiter still waiting."""
        while self._waiters and self.open < self.max_connections:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.open += 1  # reserved for the waiter; `_wait_turn` hands it back
                waiter.set_result(None)
                return

    def _lost(self, conn: UpstreamConnection) -> None:
        """The transport of `conn` closed; an idle one leaves the pool at once."""
        if not conn.busy and conn in self.idle:
            self.idle.remove(conn)
            self._drop(conn, conn.discard or "closed")
            self._wake()

    def close(self) -> None:
        """Close every idle connection (busy ones close when their exchange ends)."""
        while self.idle:
            self._drop(self.idle.pop(), "shutdown")


async def probe(pool: Pool, path: str, timeout: float) -> int:
    """The status of `GET path` on the upstream, through the pool (raises on failure)."""
    async with asyncio.timeout(timeout):
        conn = await pool.acquire()
        try:
            target = (pool.target.base_path + path).encode("latin-1")
            host = pool.target.netloc.encode("latin-1")
            conn.begin(b"GET %b HTTP/1.1\r\nhost: %b\r\n\r\n" % (target, host), False)
            await conn.wait_head()
            while await conn.read():
                pass
            return conn.status
        finally:
            pool.release(conn)
