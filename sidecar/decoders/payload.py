"""Body bytes to JSON, safely: bounded decompression, UTF-8, a depth check, then `json.loads`.

Bounds: a body (compressed or not) of more than `max_bytes` (default 1 MiB) is refused with
`too_large`; decompression stops at `max_bytes + 1` output bytes, so a zip bomb costs at most
that much memory. Nesting deeper than `DEFAULT_MAX_JSON_DEPTH` (64) is refused with `too_deep`
before parsing: a vectorised scan of bracket depth outside strings (a few passes of numpy over the
bytes, about 25 bytes of scratch per body byte, and only when the body holds more opening brackets
than the limit). Reasons raised here: `too_large`, `unsupported_encoding`, `bad_encoding`,
`not_utf8`, `invalid_json`, `too_deep`.
"""

from __future__ import annotations

import json
import re
import zlib

import numpy as np

from sidecar.decoders.base import EventStream
from sidecar.records import DecodeError

DEFAULT_MAX_BYTES = 1 << 20
DEFAULT_MAX_JSON_DEPTH = 64

_GZIP_OR_ZLIB_WBITS = 32 + zlib.MAX_WBITS
_LINE_BREAK_BYTES = re.compile(rb"\r\n|\r|\n")
_STEP = np.zeros(256, dtype=np.int8)
_STEP[[0x5B, 0x7B]] = 1  # [ {
_STEP[[0x5D, 0x7D]] = -1  # ] }


def decompress(body: bytes, encoding: str, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The body decoded from its Content-Encoding (gzip, deflate, identity), at most max_bytes."""
    if len(body) > max_bytes:
        raise DecodeError("too_large", f"body of {len(body)} bytes exceeds {max_bytes}")
    token = encoding.strip().lower()
    if token in ("", "identity"):
        return body
    if token in ("gzip", "x-gzip"):
        return _inflate(body, _GZIP_OR_ZLIB_WBITS, max_bytes)
    if token == "deflate":
        # HTTP "deflate" is meant to be zlib-wrapped, but some servers send raw deflate.
        try:
            return _inflate(body, zlib.MAX_WBITS, max_bytes)
        except DecodeError as error:
            if error.reason != "bad_encoding":
                raise
            return _inflate(body, -zlib.MAX_WBITS, max_bytes)
    raise DecodeError("unsupported_encoding", f"content-encoding {encoding[:40]!r}")


def _inflate(body: bytes, wbits: int, max_bytes: int) -> bytes:
    inflater = zlib.decompressobj(wbits)
    try:
        data = inflater.decompress(body, max_bytes + 1)
    except zlib.error as error:
        raise DecodeError("bad_encoding", str(error)) from None
    if len(data) > max_bytes or inflater.unconsumed_tail:
        raise DecodeError("too_large", f"decompressed body exceeds {max_bytes} bytes")
    return data


def json_depth(data: bytes) -> int:
    """The deepest bracket nesting outside JSON strings (an upper bound for invalid JSON)."""
    raw = np.frombuffer(data, dtype=np.uint8)
    index = np.int32 if raw.size < 2**31 else np.int64
    quotes = np.flatnonzero(raw == 0x22)
    if b"\\" in data:
        # A quote ends or starts a string unless an odd run of backslashes precedes it.
        positions = np.arange(raw.size, dtype=index)
        last_plain = np.maximum.accumulate(np.where(raw == 0x5C, -1, positions))
        before = quotes - 1
        run = before - last_plain[np.maximum(before, 0)]
        run[before < 0] = 0
        quotes = quotes[run % 2 == 0]
    step = _STEP[raw]
    if quotes.size:
        toggles = np.zeros(raw.size, dtype=np.int8)
        toggles[quotes] = 1
        step[np.cumsum(toggles, dtype=index) % 2 == 1] = 0
    return int(np.cumsum(step, dtype=index).max(initial=0))


def check_depth(data: bytes, max_depth: int = DEFAULT_MAX_JSON_DEPTH) -> None:
    """Raise DecodeError("too_deep") when `data` nests brackets deeper than `max_depth`."""
    if data.count(b"[") + data.count(b"{") <= max_depth:
        return
    depth = json_depth(data)
    if depth > max_depth:
        raise DecodeError("too_deep", f"nesting depth {depth} exceeds {max_depth}")


def to_text(data: bytes) -> str:
    """The body as UTF-8 text."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DecodeError("not_utf8", f"invalid byte at offset {error.start}") from None


def parse_json(data: bytes, max_depth: int = DEFAULT_MAX_JSON_DEPTH) -> object:
    """Parse a JSON body; DecodeError for bad UTF-8, bad JSON or nesting beyond `max_depth`."""
    check_depth(data, max_depth)
    return _loads(to_text(data))


def _loads(text: str) -> object:
    try:
        return json.loads(text)
    except RecursionError:
        raise DecodeError("too_deep", "nesting exceeds the interpreter's limit") from None
    except ValueError as error:
        raise DecodeError("invalid_json", str(error)[:200]) from None


def is_event_stream(body: bytes, content_type: str) -> bool:
    """Whether a response body is Server-Sent Events (by content type, else by its first bytes)."""
    if content_type.strip().lower().startswith("text/event-stream"):
        return True
    return body.lstrip()[:5] == b"data:"


TERMINAL_MARKERS = (b"[DONE]", b"response.completed", b"response.incomplete", b"response.failed")
"""What the last event of a finished stream starts with: chat/completions' `data: [DONE]`, or
the Responses API's terminal event (in its `event:` line or its JSON `type`)."""


def sse_finished(body: bytes | bytearray) -> bool:
    """Whether an SSE body ends with a whole end-of-stream event (cheap: looks at the tail)."""
    tail = body.rstrip()
    if not tail.endswith((b"]", b"}")):
        return False
    start = max(tail.rfind(b"\n\n"), tail.rfind(b"\r\n\r\n"), tail.rfind(b"\r\r"))
    head = tail[start + 1 :].lstrip()[:96]
    return any(marker in head for marker in TERMINAL_MARKERS)


def sse_payloads(data: bytes) -> list[tuple[int, str]]:
    """Each SSE event's `data:` lines joined, with the byte offset just past the event."""
    found: list[tuple[int, str]] = []
    lines: list[bytes] = []
    position = 0
    breaks = [(m.start(), m.end()) for m in _LINE_BREAK_BYTES.finditer(data)]
    # The body's tail and one empty line more, so an event cut off at the end still counts.
    for start, end in [*breaks, (len(data), len(data)), (len(data), len(data))]:
        line, position = data[position:start], end
        if line.startswith(b"data:"):
            lines.append(line[6:] if line.startswith(b"data: ") else line[5:])
            continue
        if line or not lines:
            continue  # event:, id:, retry: and comments do not carry data
        found.append((end, b"\n".join(lines).decode("utf-8")))
        lines = []
    return found


def parse_event_stream(data: bytes, max_depth: int = DEFAULT_MAX_JSON_DEPTH) -> EventStream:
    """Parse an SSE body: every event's `data:` lines joined, as JSON; `[DONE]` ends it."""
    check_depth(data, max_depth)
    to_text(data)
    events: list[object] = []
    ends: list[int] = []
    done = False
    invalid = 0
    for end, payload in sse_payloads(data):
        if payload.strip() == "[DONE]":
            done = True
            continue
        try:
            events.append(_loads(payload))
        except DecodeError:
            invalid += 1
        else:
            ends.append(end)
    return EventStream(events=tuple(events), done=done, invalid=invalid, ends=tuple(ends))
