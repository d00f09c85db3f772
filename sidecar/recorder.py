"""Records each model's last closed window into the history, on a timer beside the windows.

Why a timer, not a hook where windows roll over: the windows stay unaware of the history, and a
summary is read through the same public report functions the admin API serves
(`sidecar.reports.model_reports`, `sidecar.signals.status.status_report`), so it shows what
`/api/v1/drift`, `/quality`, `/performance`, `/fairness` and `/status` said about that window.
Every `window_seconds`, `DEFAULT_DELAY` (0.5 s) after a window boundary (boundaries are
multiples of `window_seconds` since the epoch, as the windows'), the `current` view of every
model is summarised: at that moment the sliding window covers exactly the window that just
closed, plus the 0.5 s since (`sidecar.windows`); the summary is stamped with the closed
window's start and end. It costs one copy of each model's sketches, ~20 ms per
100 features, in a worker thread. A window summarised twice (a restart) keeps the newer summary.
A traffic point per tick counts the proxied requests of the last window (whole 10-s buckets of
`RequestStats`), with latency p50 and p99 interpolated inside the duration buckets.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sidecar import reports
from sidecar.distributions import binned_quantiles
from sidecar.history import (
    DEFAULT_MAX_COLUMNS,
    DEFAULT_MAX_SHARES,
    ColumnPoint,
    History,
    Summary,
    TrafficPoint,
    figure,
    flag,
    mapping,
    number,
    text,
)
from sidecar.reference.profile import ColumnProfile
from sidecar.signals.slo import histogram_quantile
from sidecar.signals.status import StatusSources, status_report
from sidecar.signals.traffic import BUCKET_SECONDS, BUCKETS, RequestStats
from sidecar.sketches.column import CategoricalColumnSketch, ColumnSketch, NumericColumnSketch

log = logging.getLogger("sidecar.history")

DEFAULT_DELAY = 0.5
VIEW = "current"
PERFORMANCE_FIGURES = (
    "labelled_rows",
    "accuracy",
    "estimated_accuracy",
    "f1_macro",
    "rmse",
    "mae",
    "r2",
    "low_confidence_share",
)
QUANTILES = (0.1, 0.5, 0.9)


def traffic_point(stats: RequestStats, now: float, seconds: float) -> TrafficPoint:
    """Requests, 5xx and latency p50/p99 over the last `seconds` (whole 10-s buckets)."""
    buckets = max(1, min(BUCKETS, round(seconds / BUCKET_SECONDS)))
    span = stats.span(now, buckets * BUCKET_SECONDS)
    counts = span.latency_counts
    return TrafficPoint(
        now,
        float(buckets * BUCKET_SECONDS),
        span.total,
        span.errors_5xx,
        histogram_quantile(0.5, stats.bounds, counts) if stats.bounds else None,
        histogram_quantile(0.99, stats.bounds, counts) if stats.bounds else None,
    )


def traffic_series(stats: RequestStats, now: float, seconds: float = 3600) -> list[TrafficPoint]:
    """One point per finished 10-s bucket over the last `seconds` (at most an hour), oldest first.

    The bucket `now` is in is left out: its rate would read low until it finishes. A point's
    time is the end of its bucket.
    """
    current = math.floor(now / BUCKET_SECONDS) * BUCKET_SECONDS
    count = max(1, min(BUCKETS - 1, round(seconds / BUCKET_SECONDS)))
    ends = [current - i * BUCKET_SECONDS for i in range(count - 1, -1, -1)]
    return [
        replace(traffic_point(stats, end - BUCKET_SECONDS / 2, BUCKET_SECONDS), time=end)
        for end in ends
    ]


def output_distribution(
    profile: ColumnProfile | None, sketch: ColumnSketch | None
) -> dict[str, float | None]:
    """Class shares (at most `DEFAULT_MAX_SHARES`) or p10/p50/p90/mean of one output column."""
    if isinstance(sketch, CategoricalColumnSketch):
        counts = sketch.counts
        total = counts.total
        pairs = [*zip(counts.categories, counts.counts.tolist(), strict=True), *counts.new.top()]
        pairs.sort(key=lambda item: -item[1])
        return {str(k): n / total for k, n in pairs[:DEFAULT_MAX_SHARES] if total and n}
    if not isinstance(sketch, NumericColumnSketch) or sketch.count == 0:
        return {}
    found: tuple[float | None, ...] | None = None
    if sketch.binned is not None and profile is not None and profile.kind == "numeric":
        found = binned_quantiles(profile.edges_array, sketch.binned.counts.astype(float), QUANTILES)
    elif sketch.quantiles is not None:
        found = tuple(sketch.quantiles.quantile(q) for q in QUANTILES)
    out = dict(zip(("p10", "p50", "p90"), found or (None,) * 3, strict=True))
    return {**out, "mean": sketch.moments.mean}


def _column_points(
    drift: Mapping[str, Any],
    quality: Mapping[str, Any],
    limit: int,
    distributions: Mapping[str, Mapping[str, float | None]],
) -> dict[str, ColumnPoint]:
    points: dict[str, ColumnPoint] = {}
    for name, raw in list(drift.items())[:limit]:
        column, rates = mapping(raw), mapping(quality.get(name))
        method = text(column.get("method"))
        statistic = mapping(column.get("statistics")).get(method) if method else None
        points[str(name)] = ColumnPoint(
            method,
            figure(statistic),
            figure(column.get("threshold")),
            flag(column.get("drift")),
            figure(rates.get("missing")),
            figure(rates.get("nan")),
            {k: figure(v) for k, v in distributions.get(str(name), {}).items()},
        )
    return points


def summary_from_reports(
    window: tuple[float, float],
    drift: Mapping[str, Any],
    quality: Mapping[str, Any],
    outcome: Mapping[str, Any],
    status: Mapping[str, Any],
    distributions: Mapping[str, Mapping[str, float | None]] | None = None,
    max_columns: int = DEFAULT_MAX_COLUMNS,
) -> Summary:
    """A window's summary from the API documents of it; missing or renamed keys become None."""
    outputs = mapping(drift.get("predictions"))
    feature_room = max(max_columns - len(outputs), max_columns // 2)
    performance = mapping(outcome.get("performance"))
    attributes = mapping(outcome.get("fairness")).get("attributes")
    signals = status.get("signals")
    return Summary(
        start=window[0],
        end=window[1],
        rows=int(number(quality.get("rows")) or 0),
        status=text(status.get("status")),
        signals={
            str(s.get("name")): str(s.get("status"))
            for s in (signals if isinstance(signals, list) else [])
            if isinstance(s, Mapping)
        },
        dataset_share=figure(mapping(drift.get("dataset")).get("share")),
        features=_column_points(
            mapping(drift.get("features")), mapping(quality.get("features")), feature_room, {}
        ),
        predictions=_column_points(outputs, {}, max_columns, distributions or {}),
        performance={k: figure(performance.get(k)) for k in PERFORMANCE_FIGURES},
        fairness={
            str(a.get("attribute")): figure(a.get("demographic_parity_difference"))
            for a in (attributes if isinstance(attributes, list) else [])
            if isinstance(a, Mapping)
        },
    )


class HistoryRecorder:
    """Summarises every model's closed window into a `History`, once per window."""

    def __init__(self, sources: StatusSources, history: History, window_seconds: float) -> None:
        self.sources = sources
        self.history = history
        self.window_seconds = float(window_seconds)

    def summarise(self, model: str, now: float) -> Summary | None:
        """`model`'s window that closed just before `now`, None when it saw nothing."""
        try:
            computed = reports.model_reports(
                self.sources.monitor, self.sources.policy, model, VIEW, now
            )
        except reports.UnknownModel:
            return None
        view = computed.view
        if view.snapshot.rows == 0 and view.snapshot.requests == 0:
            return None
        reference = view.reference
        profiles = reference.predictions if reference is not None else {}
        shares = {
            name: output_distribution(profiles.get(name), sketch)
            for name, sketch in view.snapshot.predictions.items()
        }
        start = view.snapshot.start
        return summary_from_reports(
            (start, start + self.window_seconds),
            computed.drift.to_json(model),
            computed.quality.to_json(),
            computed.outcome.to_json(),
            status_report(self.sources, now, VIEW, computed).to_json(),
            shares,
        )

    def sample(self, now: float) -> int:
        """Record every model's previous window and one traffic point; models recorded."""
        monitor = self.sources.monitor
        names = [name for name, _ in monitor.counters().models]
        recorded = 0
        for name in names:
            summary = self.summarise(name, now)
            if summary is not None:
                recorded += self.history.record(name, summary)
        self.history.record_traffic(traffic_point(self.sources.stats, now, self.window_seconds))
        return recorded

    def delay(self, now: float) -> float:
        """Seconds from `now` until `DEFAULT_DELAY` after the next window boundary."""
        seconds = self.window_seconds
        return (math.floor(now / seconds) + 1) * seconds + DEFAULT_DELAY - now

    async def run(self) -> None:
        """Sample once per window until cancelled; a failed sample is logged, never raised."""
        while True:
            await asyncio.sleep(self.delay(time.time()))
            try:
                await asyncio.to_thread(self.sample, time.time())
            except Exception:  # the history never stops the sidecar
                log.exception("history sample failed")


__all__ = [
    "HistoryRecorder",
    "output_distribution",
    "summary_from_reports",
    "traffic_point",
    "traffic_series",
]
