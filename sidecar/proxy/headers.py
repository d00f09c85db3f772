"""Header handling for the proxy: hop-by-hop removal and X-Forwarded-* appends.

Pure functions over ASGI-style header lists (`list[tuple[bytes, bytes]]`, names lower-case as
servers deliver them). Order and repeated headers are kept; only the hop-by-hop headers of
RFC 9110 section 7.6.1 (and those the `Connection` header names) are removed.
"""

from __future__ import annotations

from collections.abc import Iterable

from sidecar.proxy.asgi import RawHeaders

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


def connection_tokens(value: bytes) -> frozenset[bytes]:
    """The header names one `Connection` header value lists (lower-case)."""
    return frozenset(t.strip().lower() for t in value.split(b",") if t.strip())


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


_PLAIN_CONNECTION = frozenset({b"keep-alive", b"close"})
_SCHEMES = {"http": b"http", "https": b"https"}


def upstream_request_headers(
    headers: RawHeaders,
    client_host: str | None,
    scheme: str,
    host_override: bytes | None = None,
    drop: frozenset[bytes] = frozenset(),
    default_host: bytes = b"",
) -> RawHeaders:
    """Headers to send upstream: hop-by-hop removed, X-Forwarded-* appended, Host kept.

    One pass over the headers (this runs for every request); `drop` names extra headers
    (lower-case) to remove, e.g. monitoring-only ones. Without a Host from the client (HTTP/1.0)
    `default_host` (the upstream's host:port) is sent.
    """
    out: RawHeaders = []
    append = out.append
    skip = _SPECIAL | drop if drop else _SPECIAL
    forwarded_for = host = None
    has_proto = has_host = False
    tokens: frozenset[bytes] = frozenset()
    for header in headers:
        name = header[0]
        if name not in skip:
            append(header)  # the pair itself: no new tuple per header
        elif name == b"host":
            host = header[1]
            if host_override is None:
                append(header)
        elif name == b"x-forwarded-for":
            forwarded_for = header[1]
        elif name == b"x-forwarded-proto":
            has_proto = True
            append(header)
        elif name == b"x-forwarded-host":
            has_host = True
            append(header)
        elif name == b"connection":
            tokens = connection_tokens(header[1]) | tokens
    if tokens and tokens - _PLAIN_CONNECTION:
        out = [(k, v) for k, v in out if k not in tokens]
    if host_override is not None or host is None:
        out.append((b"host", host_override or default_host))
    if client_host:
        client = client_host.encode("latin-1")
        forwarded_for = forwarded_for + b", " + client if forwarded_for else client
    if forwarded_for:
        out.append((b"x-forwarded-for", forwarded_for))
    if not has_proto:
        out.append((b"x-forwarded-proto", _SCHEMES.get(scheme) or scheme.encode("latin-1")))
    if host is not None and not has_host:
        out.append((b"x-forwarded-host", host))
    return out


_HEADER_LINE = b": ".join


def encode_head(method: str, target: bytes, headers: RawHeaders) -> bytes:
    """An HTTP/1.1 request head: request line, header lines, blank line."""
    lines = [b"%b %b HTTP/1.1" % (method.encode("latin-1"), target)]
    lines += map(_HEADER_LINE, headers)  # one C call per header line
    lines += (b"", b"")
    return b"\r\n".join(lines)


def framing(headers: RawHeaders, name: bytes) -> tuple[bytes | None, int | None, bool]:
    """In one pass: the first value of header `name`, the Content-Length, whether chunked."""
    found = length = None
    chunked = False
    for key, value in headers:
        if key == name:
            if found is None:
                found = value
        elif key == b"content-length":
            if length is None and value.strip().isdigit():
                length = int(value)
        elif key == b"transfer-encoding":
            chunked = True
    return found, length, chunked


def content_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    """The Content-Length as an int, or None when absent or invalid."""
    value = header_value(headers, b"content-length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)
