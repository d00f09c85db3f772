"""Header handling for the proxy: hop-by-hop removal and X-Forwarded-* appends.

Pure functions over ASGI-style header lists (`list[tuple[bytes, bytes]]`, names lower-case as
servers deliver them). Order and repeated headers are kept; only the hop-by-hop headers of
RFC 9110 section 7.6.1 (and those the `Connection` header names) are removed.
"""

from __future__ import annotations

from collections.abc import Iterable

RawHeaders = list[tuple[bytes, bytes]]

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-authenticate",
        b"proxy-authorization",
    }
)
"""Headers that describe one connection, never forwarded."""

REQUEST_ONLY_DROPPED = frozenset({b"expect"})
"""`Expect: 100-continue` is answered by our own server; the upstream gets the body directly."""


def _connection_tokens(headers: Iterable[tuple[bytes, bytes]]) -> frozenset[bytes]:
    tokens: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            tokens.update(t.strip().lower() for t in value.split(b",") if t.strip())
    return frozenset(tokens)


def strip_hop_by_hop(headers: RawHeaders, extra: frozenset[bytes] = frozenset()) -> RawHeaders:
    """Return `headers` without hop-by-hop headers, keeping order and repeats."""
    named = _connection_tokens(headers)
    drop = HOP_BY_HOP | named | extra
    return [(name, value) for name, value in headers if name.lower() not in drop]


def header_value(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The first value of header `name` (lower-case), or None."""
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


_SPECIAL = (
    HOP_BY_HOP
    | REQUEST_ONLY_DROPPED
    | {
        b"host",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
    }
)


def upstream_request_headers(
    headers: RawHeaders,
    client_host: str | None,
    scheme: str,
    host_override: str | None = None,
    drop: frozenset[bytes] = frozenset(),
) -> list[tuple[str, str]]:
    """Headers to send upstream: hop-by-hop removed, X-Forwarded-* appended, Host kept.

    One pass over the headers (this runs for every request); `drop` names extra headers
    (lower-case) to remove, e.g. monitoring-only ones.
    """
    out: list[tuple[str, str]] = []
    forwarded_for = host = None
    has_proto = has_host = False
    tokens: frozenset[bytes] = frozenset()
    for name, value in headers:
        if name not in _SPECIAL and name not in drop:
            out.append((name.decode("latin-1"), value.decode("latin-1")))
        elif name == b"host":
            host = value.decode("latin-1")
            if host_override is None:
                out.append(("host", host))
        elif name == b"x-forwarded-for":
            forwarded_for = value.decode("latin-1")
        elif name == b"x-forwarded-proto":
            has_proto = True
            out.append(("x-forwarded-proto", value.decode("latin-1")))
        elif name == b"x-forwarded-host":
            has_host = True
            out.append(("x-forwarded-host", value.decode("latin-1")))
        elif name == b"connection":
            tokens = _connection_tokens([(name, value)]) | tokens
    if tokens - {b"keep-alive", b"close"}:
        named = {t.decode("latin-1") for t in tokens}
        out = [(k, v) for k, v in out if k not in named]
    if host_override is not None:
        out.append(("host", host_override))
    if client_host:
        forwarded_for = f"{forwarded_for}, {client_host}" if forwarded_for else client_host
    if forwarded_for:
        out.append(("x-forwarded-for", forwarded_for))
    if not has_proto:
        out.append(("x-forwarded-proto", scheme))
    if host is not None and not has_host:
        out.append(("x-forwarded-host", host))
    return out


def content_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    """The Content-Length as an int, or None when absent or invalid."""
    value = header_value(headers, b"content-length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)
