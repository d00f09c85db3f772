"""Finished proxied requests: one tuple each on the hot path, counted in batches with numpy.

`HttpMetrics.record` adds one `Finished` tuple to `FinishedRequests.pending` (callgrind: the
whole `started` + `record` went from 30k to about 12k instructions per request, fold included).
`fold` takes every pending request and counts them into the same instruments at once: a dict
lookup per request for its series, then a sort, a searchsorted and a bincount per histogram.
The figures are exactly those of recording each request on its own, in order (bucket counts,
counts, min, max and, accumulated in arrival order, sums; the same buckets and series, so
replicas still merge).

Folds run on whichever thread needs the figures: every collection (Prometheus scrape, OTLP
export), every status or readiness read (`RequestStats.refresh`), and the event loop itself
once `FOLD_EVERY` (1,024) requests wait, which bounds what is held to about 250 kB and a fold's
pause to about 0.5 ms. `pending` is a list that the event loop `extend`s and a fold copies and
cuts by slices: each step one C call, atomic under the GIL, so a fold in another thread loses
no request. One lock serialises folds.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from sidecar.export.histograms import FastHistogram
from sidecar.signals.traffic import RequestStats

FOLD_EVERY = 1024
"""Pending requests at which the event loop folds them itself."""

Finished = tuple[str, int, str, float, float | None, int, int, str | None, float]
"""(method, status, path, duration s, upstream s or None, request bytes, response bytes,
error kind or None, Unix time finished): the method already one of the exported names."""

FIELDS = 9
"""Items of one `Finished` request."""


@dataclass(frozen=True)
class Sinks:
    """What a fold counts into: `HttpMetrics`'s instruments and the status signals' ring."""

    duration: FastHistogram | None
    upstream: FastHistogram
    request_size: FastHistogram
    response_size: FastHistogram
    error_counts: Counter[str]
    class_counts: Counter[int]
    stats: RequestStats | None
    route: Callable[[str], str]
    kinds: frozenset[str]


class FinishedRequests:
    """Requests finished but not yet counted, and the fold that counts them."""

    def __init__(self, sinks: Sinks) -> None:
        self.sinks = sinks
        self.pending: list[Any] = []
        """`Finished` tuples laid end to end (`extend`): FIELDS items per request."""
        self._lock = threading.Lock()

    def fold(self, wait: bool = True) -> None:
        """Count every pending request (`wait=False`: unless another thread is folding)."""
        if not self._lock.acquire(blocking=wait):
            return
        try:
            pending = self.pending
            # Each of these three steps is one C call, atomic under the GIL, as is the event
            # loop's `extend`: requests added meanwhile land past `end` and stay for the next fold.
            end = len(pending)
            flat = pending[:end]
            del pending[:end]
            if flat:
                self._count(flat)
        finally:
            self._lock.release()

    def _count(self, flat: list[Any]) -> None:
        sinks, n = self.sinks, len(flat) // FIELDS
        methods, statuses, paths, durations, upstreams, sent, received, errors, times = (
            flat[field::FIELDS] for field in range(FIELDS)
        )
        ids, index = _first_seen(zip(methods, statuses, paths, strict=True), n)
        # The exported series keys of each distinct (method, status, path), then per request.
        series: dict[tuple[str, int, str], int] = {}
        by_method: dict[tuple[str], int] = {}
        to_series = np.array(
            [series.setdefault((m, s, sinks.route(p)), len(series)) for m, s, p in ids],
            dtype=np.intp,
        )[index]
        to_method = np.array(
            [by_method.setdefault((m,), len(by_method)) for m, _, _ in ids], dtype=np.intp
        )[index]
        keys, method_keys = list(series), list(by_method)
        duration = _floats(durations)
        if sinks.duration is not None:
            sinks.duration.record_batch(keys, to_series, duration)
        upstream = _floats(upstreams, absent=True)
        answered = ~np.isnan(upstream)
        sinks.upstream.record_batch(keys, to_series[answered], upstream[answered])
        sinks.request_size.record_batch(method_keys, to_method, _floats(sent))
        sinks.response_size.record_batch(method_keys, to_method, _floats(received))
        status = np.fromiter(statuses, dtype=np.int64, count=n)
        timeouts = self._count_errors(errors)
        classes = np.minimum(status[status > 0] // 100, 5)
        for cls, count in enumerate(np.bincount(classes).tolist()):
            if count:
                sinks.class_counts[cls] += count
        if sinks.stats is not None:
            sinks.stats.record_batch(_floats(times), status, duration, timeouts)

    def _count_errors(self, errors: list[str | None]) -> npt.NDArray[np.bool_]:
        """Count the error kinds; which requests timed out."""
        if errors.count(None) == len(errors):  # the usual batch: no error at all
            return np.zeros(len(errors), dtype=np.bool_)
        kinds = self.sinks.kinds
        for kind, count in Counter(errors).items():
            if kind is not None:
                self.sinks.error_counts[kind if kind in kinds else "other"] += count
        timeouts: npt.NDArray[np.bool_] = np.array(errors, dtype=object) == "timeout"
        return timeouts


def _floats(values: list[Any], absent: bool = False) -> npt.NDArray[np.float64]:
    """`values` as float64 (`absent`: they may hold None, which becomes NaN)."""
    if absent and None in values:
        return np.array(values, dtype=np.float64)
    return np.fromiter(values, dtype=np.float64, count=len(values))  # twice as fast


def _first_seen(
    keys: Iterator[tuple[str, int, str]], n: int
) -> tuple[list[tuple[str, int, str]], npt.NDArray[np.intp]]:
    """The distinct keys in order of first appearance, and each key's number among them."""
    first: dict[tuple[str, int, str], int] = {}
    # map() runs setdefault from C; the value is the position where a key first appeared.
    raw = np.fromiter(map(first.setdefault, keys, itertools.count()), dtype=np.intp, count=n)
    number = np.zeros(n, dtype=np.intp)
    number[np.flatnonzero(np.bincount(raw, minlength=n))] = np.arange(len(first))
    return list(first), number[raw]
