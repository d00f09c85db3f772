"""The proxy port's HTTP/1.1 server protocol: uvicorn's httptools protocol with a head deadline.

A client gets `header_timeout` seconds (default 10 s) from opening its connection, and from
the first byte of each later request, to finish the request head; then the connection closes
without an answer (slowloris connections and connections that never send a byte alike).
Between requests uvicorn's keep-alive timeout applies; at `limit_concurrency` connections or
requests, uvicorn answers new requests 503.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_HEADER_TIMEOUT = 10.0


class GuardedProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` closing connections whose request head is not done in time.

    One timer per connection, re-armed only when it fires during a head: a timer per request
    (arm at its first byte, cancel at its last header) cost more than the rest of the check.
    """

    header_timeout = DEFAULT_HEADER_TIMEOUT
    _head_timer: asyncio.TimerHandle | None = None
    _head_since = 0.0
    _in_head = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_begins()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_begins()

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def _head_begins(self) -> None:
        self._in_head = True
        self._head_since = self.loop.time()
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout, self._head_check)

    def _head_check(self) -> None:
        self._head_timer = None
        if not self._in_head or self.transport.is_closing():
            return
        left = self._head_since + self.header_timeout - self.loop.time()
        if left > 0:
            self._head_timer = self.loop.call_later(left, self._head_check)
        else:
            self.transport.close()


def guarded_protocol(header_timeout: float) -> type[GuardedProtocol]:
    """A `GuardedProtocol` class with this head deadline, for `uvicorn.Config(http=...)`."""
    return type("GuardedProtocol", (GuardedProtocol,), {"header_timeout": header_timeout})
