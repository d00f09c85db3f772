"""What the proxy reports to, as protocols: its metrics and its tracer (export implements them).

The proxy owns the names of its upstream error kinds; exporters import `ERROR_KINDS` rather
than repeating them.
"""

from __future__ import annotations

from typing import Any, Protocol

from sidecar.proxy.asgi import Scope

ERROR_KINDS = ("unavailable", "timeout", "aborted", "client_aborted")
"""Why an exchange failed: 502, 504, upstream died mid-response, client went away."""


class ProxyTracer(Protocol):
    """Starts and ends one span per proxied request."""

    def start(self, scope: Scope, request_id: str, sampled: bool) -> Any: ...

    def end(
        self,
        span: Any,
        status: int,
        error_kind: str | None,
        request_bytes: int,
        response_bytes: int,
    ) -> None: ...


class ProxyMetrics(Protocol):
    """Receives one `started` and one `record` per proxied request."""

    @property
    def tracer(self) -> ProxyTracer | None: ...

    def started(self, method: str) -> None: ...

    def record(
        self,
        method: str,
        path: str,
        status: int,
        duration: float,
        upstream_seconds: float | None,
        request_bytes: int,
        response_bytes: int,
        error_kind: str | None,
        span: Any = None,
    ) -> None: ...
