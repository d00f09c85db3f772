"""Rolling counts of proxied requests for the status signals: totals, 5xx, timeouts, latency.

Ten-second buckets over the last hour (360 buckets, about 100 kB): each holds the request count,
5xx count, timeout count and a latency histogram on the telemetry's duration buckets. `record`
costs one bisect and a few integer additions; `record_batch` counts many requests with a few
numpy calls per ten-second bucket and gives exactly the counts `record` would, one by one.
A recorder that defers requests (`HttpMetrics`) sets `refresh`, which every `span` calls
first, so reads see every request finished before them. Time is an argument.
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

BUCKET_SECONDS = 10
BUCKETS = 360


@dataclass(frozen=True)
class SpanCounts:
    """Counts over a span of time."""

    total: int
    errors_5xx: int
    timeouts: int
    latency_counts: tuple[int, ...]


class RequestStats:
    """Ring of ten-second buckets covering one hour; one lock guards it."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self._bounds = np.asarray(self.bounds, dtype=np.float64)
        width = len(self.bounds) + 1
        self._slot = [-1] * BUCKETS
        self._counts = [[0, 0, 0] for _ in range(BUCKETS)]
        self._latency = [[0] * width for _ in range(BUCKETS)]
        self._lock = threading.Lock()
        self.refresh: Callable[[], None] | None = None
        """Called before every read, e.g. to fold requests recorded but not yet counted."""

    def _bucket(self, tick: int) -> int:
        index = tick % BUCKETS
        if self._slot[index] != tick:
            self._slot[index] = tick
            self._counts[index] = [0, 0, 0]
            self._latency[index] = [0] * (len(self.bounds) + 1)
        return index

    def record(self, now: float, status: int, duration: float, timeout: bool) -> None:
        """Count one finished request."""
        with self._lock:
            index = self._bucket(int(now // BUCKET_SECONDS))
            counts = self._counts[index]
            counts[0] += 1
            if status >= 500:
                counts[1] += 1
            if timeout:
                counts[2] += 1
            self._latency[index][bisect.bisect_left(self.bounds, duration)] += 1

    def record_batch(
        self,
        now: npt.NDArray[np.float64],
        status: npt.NDArray[np.int64],
        duration: npt.NDArray[np.float64],
        timeout: npt.NDArray[np.bool_],
    ) -> None:
        """Count finished requests given as arrays, in order: `record` one by one, at once."""
        if not len(now):
            return
        ticks = np.floor_divide(now, BUCKET_SECONDS).astype(np.int64)
        buckets = np.searchsorted(self._bounds, duration, side="left")
        # Runs of one tick, in arrival order, so a clock stepping back counts as `record` would.
        cuts = [0, *(np.flatnonzero(np.diff(ticks)) + 1).tolist(), len(ticks)]
        width = len(self.bounds) + 1
        with self._lock:
            for start, end in itertools.pairwise(cuts):
                index = self._bucket(int(ticks[start]))
                counts = self._counts[index]
                counts[0] += end - start
                counts[1] += int(np.count_nonzero(status[start:end] >= 500))
                counts[2] += int(np.count_nonzero(timeout[start:end]))
                added = np.bincount(buckets[start:end], minlength=width).tolist()
                self._latency[index] = [
                    a + b for a, b in zip(self._latency[index], added, strict=True)
                ]

    def span(self, now: float, seconds: float) -> SpanCounts:
        """Counts over the last `seconds` (rounded to whole buckets, at most one hour)."""
        if self.refresh is not None:
            self.refresh()
        tick = int(now // BUCKET_SECONDS)
        first = tick - max(1, min(BUCKETS, round(seconds / BUCKET_SECONDS))) + 1
        total = errors = timeouts = 0
        latency = [0] * (len(self.bounds) + 1)
        with self._lock:
            for index in range(BUCKETS):
                if first <= self._slot[index] <= tick:
                    t, e, o = self._counts[index]
                    total, errors, timeouts = total + t, errors + e, timeouts + o
                    latency = [a + b for a, b in zip(latency, self._latency[index], strict=True)]
        return SpanCounts(total, errors, timeouts, tuple(latency))
