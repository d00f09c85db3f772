"""What the forwarding path needs to know, parsed once at start."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 300.0
DEFAULT_MAX_CONNECTIONS = 1024


@dataclass(frozen=True, slots=True)
class ProxySettings:
    """The upstream, its timeouts and pool bound, and the header rules of the proxy."""

    upstream: str
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    host_header: str | None = None
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    request_id_header: str = "x-request-id"
    drop_headers: frozenset[bytes] = frozenset()
