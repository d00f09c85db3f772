"""Rolling counts of proxied requests for the status signals: totals, 5xx, timeouts, latency.

Ten-second buckets over the last hour (360 buckets, about 100 kB): each holds the request count,
5xx count, timeout count and a latency histogram on the telemetry's duration buckets. `record`
costs one bisect and a few integer additions. Time is an argument.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

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
    """Ring of ten-second buckets covering one hour."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        width = len(self.bounds) + 1
        self._slot = [-1] * BUCKETS
        self._counts = [[0, 0, 0] for _ in range(BUCKETS)]
        self._latency = [[0] * width for _ in range(BUCKETS)]

    def record(self, now: float, status: int, duration: float, timeout: bool) -> None:
        """Count one finished request."""
        tick = int(now // BUCKET_SECONDS)
        index = tick % BUCKETS
        if self._slot[index] != tick:
            self._slot[index] = tick
            self._counts[index] = [0, 0, 0]
            self._latency[index] = [0] * (len(self.bounds) + 1)
        counts = self._counts[index]
        counts[0] += 1
        if status >= 500:
            counts[1] += 1
        if timeout:
            counts[2] += 1
        self._latency[index][bisect.bisect_left(self.bounds, duration)] += 1

    def span(self, now: float, seconds: float) -> SpanCounts:
        """Counts over the last `seconds` (rounded to whole buckets, at most one hour)."""
        tick = int(now // BUCKET_SECONDS)
        first = tick - max(1, min(BUCKETS, round(seconds / BUCKET_SECONDS))) + 1
        total = errors = timeouts = 0
        latency = [0] * (len(self.bounds) + 1)
        for index in range(BUCKETS):
            if first <= self._slot[index] <= tick:
                t, e, o = self._counts[index]
                total, errors, timeouts = total + t, errors + e, timeouts + o
                latency = [a + b for a, b in zip(latency, self._latency[index], strict=True)]
        return SpanCounts(total, errors, timeouts, tuple(latency))
