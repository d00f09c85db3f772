"""Capture: sample requests, tee the bodies of sampled ones, hand pairs to analysis.

The decision is made per request before any copying. Only sampled requests have their bodies
copied, and only up to `max_bytes` each (default 1 MiB); a larger body stops the copy and the pair
is dropped as `too_large`. Finished pairs go into a bounded queue (`queue_size`, default 1024
pairs, so at most `queue_size * 2 * max_bytes` bytes wait); when it is full the pair is dropped
as `queue_full`. Nothing here ever blocks or fails the request.

Drop reasons: `too_large`, `queue_full`, `rate_cap` (over `sample_max_per_second`),
`incomplete` (the exchange failed or was aborted), `shutdown` (still queued when the grace
period ended).
"""

from __future__ import annotations

import random
import zlib
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any, Protocol

from sidecar.decoders.routes import is_analysed
from sidecar.proxy.headers import content_length, header_value
from sidecar.records import Captured

DEFAULT_MAX_BYTES = 1 << 20
DEFAULT_QUEUE_SIZE = 1024
CAPTURED_HEADERS = frozenset(
    {b"content-type", b"content-encoding", b"inference-header-content-length"}
)
CAPTURED_RESPONSE_HEADERS = frozenset({b"inference-header-content-length"})
"""The binary tensor extension's JSON length: without it a binary body cannot be split."""
DROP_REASONS = ("too_large", "queue_full", "rate_cap", "incomplete", "shutdown")
"""Every reason a sampled pair is dropped for (exported from the start at 0)."""
CAPTURED_METHODS = frozenset({"POST", "PUT", "PATCH"})
"""Inference calls carry a body; GETs (health, metadata) are proxied but never sampled, nor are
the Open Inference Protocol's control-plane POSTs (repository load/unload, shared memory)."""


class Tap(Protocol):
    """Receives copies of one sampled exchange's bytes."""

    def request_chunk(self, chunk: bytes) -> None: ...
    def response_start(self, status: int, headers: list[tuple[bytes, bytes]]) -> None: ...
    def response_chunk(self, chunk: bytes) -> None: ...
    def finish(
        self, status: int, duration: float, first_byte: float | None, complete: bool
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class SamplingPolicy:
    """How requests are chosen for analysis."""

    rate: float = 1.0
    max_per_second: int = 0
    deterministic: bool = False


class Sampler:
    """Per-request sampling: a rate, an optional per-second cap, optional id hashing."""

    def __init__(self, policy: SamplingPolicy, rng: random.Random | None = None) -> None:
        self.policy = policy
        self.effective_rate = policy.rate
        self._random = (rng or random.Random()).random
        self._second = -1
        self._in_second = 0

    def decide(self, request_id: str, now: float) -> str | None:
        """None to sample; otherwise why not (`rate`, or `rate_cap`)."""
        rate = self.effective_rate
        if rate <= 0.0:
            return "rate"
        if rate < 1.0:
            if self.policy.deterministic:
                # crc32 is uniform enough over ids and identical on every replica.
                draw = zlib.crc32(request_id.encode("utf-8", "replace")) / 4294967296.0
            else:
                draw = self._random()
            if draw >= rate:
                return "rate"
        cap = self.policy.max_per_second
        if cap:
            second = int(now)
            if second != self._second:
                self._second, self._in_second = second, 0
            if self._in_second >= cap:
                return "rate_cap"
            self._in_second += 1
        return None


class Capture:
    """Sampling, teeing and the bounded queue between the proxy and the analysis worker."""

    def __init__(
        self,
        sampler: Sampler,
        max_bytes: int = DEFAULT_MAX_BYTES,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        extra_headers: frozenset[bytes] = frozenset(),
    ) -> None:
        self.sampler = sampler
        self.max_bytes = max_bytes
        # A plain deque: append and popleft are atomic, and the worker polls instead of being
        # woken per request (a Condition.notify per request cost ~15% of the event loop).
        self.queue: deque[Captured] = deque()
        self.queue_size = queue_size
        self.headers = CAPTURED_HEADERS | extra_headers
        self.seen = 0
        self.sampled = 0
        self.dropped: Counter[str] = Counter()

    def begin(self, scope: dict[str, Any], request_id: str, now: float) -> _ExchangeTap | None:
        """Decide whether to sample this request; a tap to feed if so."""
        if scope["method"] not in CAPTURED_METHODS or not is_analysed(scope["path"]):
            return None
        self.seen += 1
        reason = self.sampler.decide(request_id, now)
        if reason is not None:
            if reason != "rate":
                self.dropped[reason] += 1
            return None
        self.sampled += 1
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        length = content_length(headers)
        if length is not None and length > self.max_bytes:
            self.dropped["too_large"] += 1
            return None
        return _ExchangeTap(self, scope, request_id, now)

    def submit(self, pair: Captured) -> None:
        """Queue a finished pair, or drop and count it when the queue is full."""
        if len(self.queue) >= self.queue_size:
            self.dropped["queue_full"] += 1
        else:
            self.queue.append(pair)

    @property
    def depth(self) -> int:
        """Pairs waiting for analysis."""
        return len(self.queue)

    def discard(self, reason: str) -> int:
        """Drop every queued pair, counted under `reason`; returns how many."""
        count = 0
        while self.queue:
            self.queue.popleft()
            count += 1
        self.dropped[reason] += count
        return count

    def take(self, limit: int) -> list[Captured]:
        """Up to `limit` queued pairs, oldest first, without waiting."""
        batch: list[Captured] = []
        popleft = self.queue.popleft
        while len(batch) < limit and self.queue:
            batch.append(popleft())
        return batch


class _ExchangeTap:
    """Copies of one sampled exchange, bounded by `max_bytes` per body."""

    __slots__ = (
        "capture",
        "encoding",
        "method",
        "path",
        "query",
        "request",
        "request_id",
        "response",
        "response_encoding",
        "response_headers",
        "response_type",
        "selected",
        "started",
        "too_large",
    )

    def __init__(
        self, capture: Capture, scope: dict[str, Any], request_id: str, now: float
    ) -> None:
        self.capture = capture
        self.request_id = request_id
        self.started = now
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.query: str = scope["query_string"].decode("latin-1")
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        self.selected = tuple(
            (k.decode("latin-1"), v.decode("latin-1")) for k, v in headers if k in capture.headers
        )
        self.encoding = (header_value(headers, b"content-encoding") or b"").decode("latin-1")
        self.request = bytearray()
        self.response = bytearray()
        self.response_encoding = ""
        self.response_type = ""
        self.response_headers: tuple[tuple[str, str], ...] = ()
        self.too_large = False

    def _add(self, buffer: bytearray, chunk: bytes) -> None:
        if self.too_large:
            return
        if len(buffer) + len(chunk) > self.capture.max_bytes:
            self.too_large = True
            self.request.clear()
            self.response.clear()
            return
        buffer += chunk

    def request_chunk(self, chunk: bytes) -> None:
        self._add(self.request, chunk)

    def response_start(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.response_encoding = (header_value(headers, b"content-encoding") or b"").decode(
            "latin-1"
        )
        self.response_type = (header_value(headers, b"content-type") or b"").decode("latin-1")
        self.response_headers = tuple(
            (name.decode("latin-1"), value.decode("latin-1"))
            for name in CAPTURED_RESPONSE_HEADERS
            if (value := header_value(headers, name)) is not None
        )

    def response_chunk(self, chunk: bytes) -> None:
        self._add(self.response, chunk)

    def finish(
        self, status: int, duration: float, first_byte: float | None, complete: bool
    ) -> None:
        capture = self.capture
        if self.too_large:
            capture.dropped["too_large"] += 1
            return
        if not complete:
            capture.dropped["incomplete"] += 1
            return
        capture.submit(
            Captured(
                request_id=self.request_id,
                method=self.method,
                path=self.path,
                query=self.query,
                status=status,
                request_headers=self.selected,
                request_body=bytes(self.request),
                response_body=bytes(self.response),
                started=self.started,
                duration=duration,
                first_byte=first_byte,
                request_encoding=self.encoding,
                response_encoding=self.response_encoding,
                response_content_type=self.response_type,
                response_headers=self.response_headers,
            )
        )
