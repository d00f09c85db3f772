"""Hot-path histograms: explicit-bucket aggregation cheap enough for every proxied request.

Recording through the OpenTelemetry SDK cost about 20 us per histogram here (attribute hashing,
a `Measurement` object, locks): with four per request it made the proxy a third slower
(3,856 vs 5,773 requests/s, `bench/proxy_bench.py` on one core). `FastHistogram.record` is a
dict lookup, a bisect and three additions (about 1 us). `record_batch` counts many values at once
with numpy (a sort, a searchsorted and a bincount per batch) and gives exactly the points
`record` gives one by one, sums included: each key's sum is accumulated in arrival order.

The aggregation is the SDK's own definition (cumulative explicit-bucket histogram: bucket i
counts values in (bounds[i-1], bounds[i]], plus sum, count, min, max), and the points are the
SDK's own `HistogramDataPoint`s: `InjectingPrometheusReader` and `InjectingPeriodicReader` add
them to every collection, so Prometheus and OTLP read exactly the same figures as every other
instrument. Series are bounded by the key space the caller uses (methods x statuses x routes).
`FastHistograms.inject` runs the `before_collect` hooks first, so a recorder that defers its
requests (`HttpMetrics`) folds them in before the histograms are read.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricsData,
    PeriodicExportingMetricReader,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

_CUMULATIVE = AggregationTemporality.CUMULATIVE


class FastHistogram:
    """A cumulative explicit-bucket histogram keyed by a tuple of attribute values."""

    def __init__(
        self,
        name: str,
        unit: str,
        description: str,
        bounds: Sequence[float],
        attribute_names: Sequence[str],
    ) -> None:
        self.name, self.unit, self.description = name, unit, description
        self.bounds = tuple(bounds)
        self._bounds = np.asarray(self.bounds, dtype=np.float64)
        self.attribute_names = tuple(attribute_names)
        self.start_ns = time.time_ns()
        # key -> [bucket counts, sum, count, min, max]
        self._points: dict[tuple[Any, ...], list[Any]] = {}

    def record(self, value: float, key: tuple[Any, ...]) -> None:
        """Count one value under the attribute values `key` (event-loop thread only)."""
        point = self._points.get(key)
        if point is None:
            point = self._points[key] = [[0] * (len(self.bounds) + 1), 0.0, 0, value, value]
        point[0][bisect.bisect_left(self.bounds, value)] += 1
        point[1] += value
        point[2] += 1
        if value < point[3]:
            point[3] = value
        elif value > point[4]:
            point[4] = value

    def record_batch(
        self,
        keys: Sequence[tuple[Any, ...]],
        index: npt.NDArray[np.intp],
        values: npt.NDArray[np.float64],
    ) -> None:
        """Count `values[i]` under `keys[index[i]]`, in order: `record` one by one, at once.

        Each touched point is replaced by a new list (one atomic store), so a collection in
        another thread reads it whole, before or after the batch.
        """
        if not len(values):
            return
        order = np.argsort(index, kind="stable")
        grouped, ordered = index[order], values[order]
        starts = np.concatenate(([0], np.flatnonzero(np.diff(grouped)) + 1))
        ends = [*starts[1:].tolist(), len(ordered)]
        lows = np.minimum.reduceat(ordered, starts).tolist()
        highs = np.maximum.reduceat(ordered, starts).tolist()
        buckets = np.searchsorted(self._bounds, ordered, side="left")
        width = len(self.bounds) + 1
        for j, (start, end) in enumerate(zip(starts.tolist(), ends, strict=True)):
            key = keys[int(grouped[start])]
            old = self._points.get(key)
            if old is None:
                old = [[0] * width, 0.0, 0, lows[j], highs[j]]
            added = np.bincount(buckets[start:end], minlength=width).tolist()
            # add.accumulate adds in order, as `record`'s += does (a sum() could differ).
            total = np.add.accumulate(np.concatenate(([old[1]], ordered[start:end])))[-1]
            self._points[key] = [
                [a + b for a, b in zip(old[0], added, strict=True)],
                float(total),
                old[2] + end - start,
                min(old[3], lows[j]),
                max(old[4], highs[j]),
            ]

    def metric(self, now_ns: int) -> Metric | None:
        """The SDK metric of every point so far (None before the first record)."""
        # list() of a dict's items runs without releasing the GIL: a consistent key set even
        # while the event loop records from its own thread.
        points = list(self._points.items())
        if not points:
            return None
        data = [
            HistogramDataPoint(
                attributes=dict(zip(self.attribute_names, key, strict=True)),
                start_time_unix_nano=self.start_ns,
                time_unix_nano=now_ns,
                count=point[2],
                sum=point[1],
                bucket_counts=list(point[0]),
                explicit_bounds=self.bounds,
                min=point[3],
                max=point[4],
            )
            for key, point in points
        ]
        return Metric(
            self.name,
            self.description,
            self.unit,
            Histogram(data_points=data, aggregation_temporality=_CUMULATIVE),
        )


class FastHistograms:
    """Metrics built outside the SDK, added to every collection of both readers.

    The fast histograms one process records form scope `scope_name`; `add_scope` adds other
    scopes whose metrics come ready-made (the analysis figures: `sidecar.export.instruments`).
    """

    def __init__(self, scope_name: str, version: str, resource: Resource) -> None:
        self.scope = InstrumentationScope(scope_name, version)
        self.resource = resource
        self.histograms: list[FastHistogram] = []
        self._scopes: list[tuple[InstrumentationScope, Callable[[int], Sequence[Metric]]]] = []
        self.before_collect: list[Callable[[], None]] = []
        """Run by `inject` before reading: recorders that defer requests fold them in here."""

    def add(self, histogram: FastHistogram) -> FastHistogram:
        """Register a histogram for every collection."""
        self.histograms.append(histogram)
        return histogram

    def add_scope(
        self, name: str, version: str, produce: Callable[[int], Sequence[Metric]]
    ) -> None:
        """Add `produce(now_ns)`'s metrics, as scope `name`, to every collection."""
        self._scopes.append((InstrumentationScope(name, version), produce))

    def inject(self, data: MetricsData, scopes: bool = True) -> MetricsData:
        """`data` with the histograms (and, if `scopes`, the added scopes) in its first resource.

        The `before_collect` hooks run first (recorders that defer requests fold them in).
        """
        for hook in self.before_collect:
            hook()
        now = time.time_ns()
        histograms = [m for h in self.histograms if (m := h.metric(now)) is not None]
        added = [(scope, list(produce(now))) for scope, produce in self._scopes] if scopes else []
        for scope, metrics in [(self.scope, histograms), *added]:
            if metrics:
                data = _joined(data, self.resource, scope, metrics)
        return data


def _joined(
    data: MetricsData, resource: Resource, scope: InstrumentationScope, metrics: list[Metric]
) -> MetricsData:
    """`data` with `metrics` added under `scope` to its first resource."""
    if not data.resource_metrics:
        return MetricsData([ResourceMetrics(resource, [ScopeMetrics(scope, metrics, "")], "")])
    first, *rest = data.resource_metrics
    # Exporters key scopes by name (OTLP's encoder keeps one per scope): join ours with the
    # SDK's own scope of the same name rather than add a second one.
    scopes = list(first.scope_metrics)
    for index, existing in enumerate(scopes):
        if existing.scope == scope:
            scopes[index] = replace(existing, metrics=[*existing.metrics, *metrics])
            break
    else:
        scopes.append(ScopeMetrics(scope, metrics, ""))
    first = replace(first, scope_metrics=scopes)
    return MetricsData(resource_metrics=[first, *rest])


class _InjectingMixin:
    """Adds the fast histograms to every collection before the reader's own handling."""

    _fast: FastHistograms
    _scopes_too = True
    """Whether the added scopes go in too (Prometheus gets them as text: `Telemetry.exposition`)."""

    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        if metrics_data is not None:
            metrics_data = self._fast.inject(metrics_data, self._scopes_too)
        super()._receive_metrics(metrics_data, timeout_millis, **kwargs)  # type: ignore[misc]


class InjectingPrometheusReader(_InjectingMixin, PrometheusMetricReader):
    """The Prometheus reader, serving the fast histograms beside the SDK's instruments."""

    _scopes_too = False

    def __init__(self, fast: FastHistograms, **options: Any) -> None:
        self._fast = fast
        super().__init__(**options)


class InjectingPeriodicReader(_InjectingMixin, PeriodicExportingMetricReader):
    """The periodic OTLP reader, exporting the fast histograms beside the SDK's instruments."""

    def __init__(self, fast: FastHistograms, exporter: Any, **options: Any) -> None:
        self._fast = fast
        super().__init__(exporter, **options)
