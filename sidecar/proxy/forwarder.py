"""The forwarding path: a raw ASGI app that streams requests to the upstream over `Pool`.

Guarantees:
- method, raw path and query (percent-encoding as sent), headers (order and repeats; hop-by-hop
  removed, X-Forwarded-* appended, Host kept) and body reach the upstream unchanged; status,
  headers and body come back unchanged (header names lower-cased, as HTTP/2 would); the request
  id (the client's or a minted one) is echoed in the response unless the upstream sent one;
- bodies of known length up to 64 KiB are read in one piece and sent with the request head in
  one write; everything else streams chunk by chunk both ways with backpressure, so memory
  stays flat for any body size; no decompression on the forward path;
- a buffered request is retried once, on a new connection, only when it failed on a reused
  keep-alive connection before any response byte arrived; a failure on a fresh connection, or
  of a streamed request, is answered at once;
- upstream failures map in `Exchange._fail` only: unreachable or invalid answer -> 502
  `upstream_unavailable`, slow -> 504 `upstream_timeout` (logged naming host:port and the
  reason, at most one line a second), death mid-response -> the client connection is aborted,
  never finished as if complete; a client that goes away releases and closes the upstream
  connection; a connection is reused only after a response read to its end with nothing after.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from sidecar.proxy.answers import FailureLog
from sidecar.proxy.exchange import Exchange, Route
from sidecar.proxy.pool import Pool, Target
from sidecar.proxy.settings import ProxySettings

if TYPE_CHECKING:
    from sidecar.capture import Capture
    from sidecar.proxy.asgi import Receive, Scope, Send
    from sidecar.proxy.observers import ProxyMetrics

__all__ = ["Forwarder", "ProxySettings"]


class Forwarder:
    """The raw ASGI application of the proxy port."""

    def __init__(
        self,
        settings: ProxySettings,
        metrics: ProxyMetrics | None = None,
        capture: Capture | None = None,
    ) -> None:
        self.settings = settings
        rid = settings.request_id_header.lower().encode("latin-1")
        self.pool = Pool(
            Target.parse(settings.upstream),
            settings.max_connections,
            settings.connect_timeout,
            settings.read_timeout,
            watch_header=rid,
        )
        # The tracer is None unless an OTLP traces endpoint is configured.
        tracer = metrics.tracer if metrics is not None else None
        self.route = Route(settings, self.pool, metrics, capture, tracer, rid, FailureLog())

    async def startup(self) -> None:
        """Nothing to open ahead: connections open on the first requests."""

    async def shutdown(self) -> None:
        """Close the idle upstream connections."""
        self.pool.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1003})
            return
        task = asyncio.current_task()
        exchange = Exchange(self.route, scope, receive, send, task)
        try:
            await exchange.run()
        except asyncio.CancelledError:
            # Cancelled by our own disconnect watcher: the client is gone, nothing to answer.
            if task is not None and exchange.client_gone and task.uncancel() == 0:
                return
            raise
        finally:
            exchange.finish()
