"""Capture: sample requests, tee the bodies of sampled ones, hand pairs to analysis.

The decision is made per request before anything is kept. Only sampled requests have their
bodies kept, by reference to the immutable chunks (the first `KEPT_CHUNKS`, 64; later ones are
copied into one buffer), and only up to `max_bytes` each (default 1 MiB); a larger body stops
the keeping and the pair is dropped as `too_large`. Finished pairs go into a bounded queue
(`queue_size`, default 1024 pairs, so at most `queue_size * 2 * max_bytes` bytes wait, plus
64 object headers per body); when it is full the pair is dropped
as `queue_full`. Nothing here ever blocks or fails the request.

Drop reasons: `too_large`, `queue_full`, `rate_cap` (over `sample_max_per_second`),
`incomplete` (the exchange failed or was aborted), `shutdown` (still queued when the grace
period ended).

Streamed (`text/event-stream`) answers also get arrival marks: (bytes so far, seconds since the
request arrived) per response chunk, at most `MAX_MARKS` (512, ~40 kB) per pair: the first
511 and always the latest, so time to first token and time to the last token stay exact. A
stream whose exchange failed after its end-of-stream event arrived (`[DONE]`, a terminal
Responses event: clients often close right then) is complete. A stream cut off by either side
before it, after a 2xx start, is counted as `incomplete` but still queued with `complete=False`,
so GenAI metrics can count it as aborted; drift analysis skips it.
"""

from __future__ import annotations

import random
import time
import zlib
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sidecar.decoders.payload import sse_finished
from sidecar.decoders.routes import is_analysed
from sidecar.proxy.headers import content_length, header_value
from sidecar.records import Captured

DEFAULT_MAX_BYTES = 1 << 20
DEFAULT_QUEUE_SIZE = 1024
MAX_MARKS = 512
KEPT_CHUNKS = 64
"""Body chunks kept by reference; later ones are copied into one buffer."""
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
        self.queue: deque[Captured | _ExchangeTap] = deque()
        self.queue_size = queue_size
        self.headers = CAPTURED_HEADERS | extra_headers
        self.seen = 0
        self.sampled = 0
        self.open = 0
        """Taps handed out and not yet finished (event-loop thread; read by `wait_idle`)."""
        self.dropped: Counter[str] = Counter()

    def begin(
        self, scope: Mapping[str, Any], request_id: str, now: float, length: int | None = -1
    ) -> _ExchangeTap | None:
        """Decide whether to sample this request; a tap to feed if so.

        `length` is the declared Content-Length when the caller parsed it already (None: none
        declared); the default -1 reads it from the headers.
        """
        if scope["method"] not in CAPTURED_METHODS or not is_analysed(scope["path"]):
            return None
        self.seen += 1
        reason = self.sampler.decide(request_id, now)
        if reason is not None:
            if reason != "rate":
                self.dropped[reason] += 1
            return None
        self.sampled += 1
        if length == -1:
            length = content_length(scope["headers"])
        if length is not None and length > self.max_bytes:
            self.dropped["too_large"] += 1
            return None
        self.open += 1
        return _ExchangeTap(self, scope, request_id, now)

    def submit(self, pair: Captured | _ExchangeTap) -> None:
        """Queue a finished pair (or tap), or drop and count it when the queue is full.

        Event-loop thread only: the check and the append are not one atomic step, but `take`
        and `discard` only ever shorten the queue, so it never holds more than `queue_size`.
        """
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
        """Up to `limit` queued pairs, oldest first, without waiting (built here from taps)."""
        batch: list[Captured] = []
        popleft = self.queue.popleft
        while len(batch) < limit and self.queue:
            item = popleft()
            batch.append(item if isinstance(item, Captured) else item.captured())
        return batch


class _ExchangeTap:
    """References to one sampled exchange's bytes, bounded by `max_bytes` per body.

    On the event loop a tap only keeps references and sizes: chunks are immutable `bytes`, so
    no body byte is copied, and headers are neither selected nor decoded there (the tap keeps
    shallow copies of the header lists, which trailers would extend). The finished tap is queued
    as it is and becomes a `Captured` in the analysis thread (`captured`, via `Capture.take`).
    """

    __slots__ = (
        "capture",
        "clock_start",
        "complete",
        "duration",
        "first_byte",
        "marks",
        "method",
        "path",
        "query",
        "request",
        "request_headers",
        "request_id",
        "request_size",
        "response",
        "response_headers",
        "response_size",
        "started",
        "status",
        "too_large",
    )

    def __init__(
        self, capture: Capture, scope: Mapping[str, Any], request_id: str, now: float
    ) -> None:
        self.capture = capture
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.query: bytes = scope["query_string"]
        # Copies of the lists (not of the bytes): trailers would be appended to the originals.
        self.request_headers: list[tuple[bytes, bytes]] = list(scope["headers"])
        self.request_id = request_id
        self.started = now
        self.request: list[bytes | bytearray] = []
        self.response: list[bytes | bytearray] = []
        self.request_size = self.response_size = 0
        self.response_headers: list[tuple[bytes, bytes]] = []
        self.too_large = False
        self.clock_start = time.perf_counter()
        self.marks: list[tuple[int, float]] | None = None
        self.status = 0
        self.duration = 0.0
        self.first_byte: float | None = None
        self.complete = False

    def _drop_bodies(self) -> None:
        self.too_large = True
        self.request.clear()
        self.response.clear()

    def request_chunk(self, chunk: bytes) -> None:
        if self.too_large:
            return
        if self.request_size + len(chunk) > self.capture.max_bytes:
            self._drop_bodies()
            return
        self.request_size += len(chunk)
        if len(self.request) < KEPT_CHUNKS:
            self.request.append(chunk)
        else:
            _keep(self.request, chunk)

    def response_start(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.response_headers = list(headers)
        for name, value in headers:
            # Marks need the content type now; everything else about headers waits for analysis.
            if name.lower() == b"content-type":
                if value[:17].lower() == b"text/event-stream":
                    self.marks = []
                break

    def response_chunk(self, chunk: bytes) -> None:
        if not self.too_large:
            if self.response_size + len(chunk) > self.capture.max_bytes:
                self._drop_bodies()
            else:
                self.response_size += len(chunk)
                if len(self.response) < KEPT_CHUNKS:
                    self.response.append(chunk)
                else:
                    _keep(self.response, chunk)
        marks = self.marks
        if marks is not None and chunk:
            mark = (self.response_size, time.perf_counter() - self.clock_start)
            if len(marks) >= MAX_MARKS:
                marks[-1] = mark
            else:
                marks.append(mark)

    def finish(
        self, status: int, duration: float, first_byte: float | None, complete: bool
    ) -> None:
        capture = self.capture
        capture.open -= 1
        if self.too_large:
            capture.dropped["too_large"] += 1
            return
        streamed = self.marks is not None and 200 <= status < 300
        if not complete and streamed and not header_value(self.response_headers, _ENCODING):
            # Clients (the openai SDK among them) close the connection once the end-of-stream
            # event arrived, before the body's final empty chunk: the answer itself is whole.
            complete = sse_finished(_joined(self.response))
        if not complete:
            capture.dropped["incomplete"] += 1
            if not (self.marks and streamed):
                return
        self.status, self.duration, self.first_byte = status, duration, first_byte
        self.complete = complete
        capture.submit(self)

    def captured(self) -> Captured:
        """The pair as analysis reads it (analysis thread: decodes, selects, joins)."""
        headers, answer, wanted = self.request_headers, self.response_headers, self.capture.headers
        return Captured(
            self.request_id,
            self.method,
            self.path,
            self.query.decode("latin-1"),
            self.status,
            tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in headers if k in wanted),
            _joined(self.request),
            _joined(self.response),
            self.started,
            self.duration,
            self.first_byte,
            (header_value(headers, _ENCODING) or b"").decode("latin-1"),
            (header_value(answer, _ENCODING) or b"").decode("latin-1"),
            (header_value(answer, b"content-type") or b"").decode("latin-1"),
            self.complete,
            tuple(self.marks or ()),
            tuple(
                (name.decode("latin-1"), value.decode("latin-1"))
                for name in CAPTURED_RESPONSE_HEADERS
                if (value := header_value(answer, name)) is not None
            ),
        )


_ENCODING = b"content-encoding"


def _keep(chunks: list[bytes | bytearray], chunk: bytes) -> None:
    """Keep a reference to `chunk`; past `KEPT_CHUNKS` chunks (a token stream's tiny ones)
    copy the rest into one buffer, so memory stays about the bytes kept, not an object each."""
    if len(chunks) < KEPT_CHUNKS:
        chunks.append(chunk)
        return
    tail = chunks[-1]
    if isinstance(tail, bytearray):
        tail += chunk
    else:
        chunks.append(bytearray(chunk))


def _joined(chunks: list[bytes | bytearray]) -> bytes:
    if len(chunks) == 1:
        return bytes(chunks[0])  # the same object when it is `bytes`: no copy
    return b"".join(chunks)
