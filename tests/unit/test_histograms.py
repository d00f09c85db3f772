"""Fast hot-path histograms aggregate exactly as the OpenTelemetry SDK does."""

from __future__ import annotations

import numpy as np
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricsData
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

from sidecar.export.histograms import FastHistogram, FastHistograms
from sidecar.export.telemetry import DURATION_BUCKETS


def _points(data: MetricsData, name: str) -> dict[tuple[object, ...], object]:
    return {
        tuple(point.attributes.values()): point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
    }


class TestFastHistogram:
    def test_buckets_sum_count_min_max_equal_the_sdk_aggregation(self) -> None:
        """The same seeded values give the SDK's bucket counts, sum, count, min and max."""
        reader = InMemoryMetricReader()
        view = View(
            instrument_name="d", aggregation=ExplicitBucketHistogramAggregation(DURATION_BUCKETS)
        )
        provider = MeterProvider(metric_readers=[reader], views=[view])
        sdk = provider.get_meter("test").create_histogram("d", unit="s")
        fast = FastHistogram("d", "s", "", DURATION_BUCKETS, ("method", "status"))
        rng = np.random.default_rng(4)
        values = np.concatenate([rng.lognormal(-5, 1.5, 5_000), list(DURATION_BUCKETS)])
        for i, value in enumerate(values.tolist()):
            key = ("GET" if i % 3 else "POST", 200 + 300 * (i % 2))
            sdk.record(value, {"method": key[0], "status": key[1]})
            fast.record(value, key)
        expected = _points(reader.get_metrics_data(), "d")
        metric = fast.metric(0)
        assert metric is not None
        found = {tuple(p.attributes.values()): p for p in metric.data.data_points}
        assert found.keys() == expected.keys()
        for key, point in found.items():
            want = expected[key]
            assert list(point.bucket_counts) == list(want.bucket_counts)  # type: ignore[attr-defined]
            assert point.count == want.count  # type: ignore[attr-defined]
            assert point.sum == want.sum  # type: ignore[attr-defined]
            assert (point.min, point.max) == (want.min, want.max)  # type: ignore[attr-defined]

    def test_injected_into_the_sdk_scope_of_the_same_name(self) -> None:
        """Collections carry the fast histograms inside the SDK's scope of the same name."""
        reader = InMemoryMetricReader()
        provider = MeterProvider(metric_readers=[reader], resource=Resource.create({}))
        provider.get_meter("proxy", "1").create_counter("c").add(1)
        fast = FastHistograms("proxy", "1", Resource.create({}))
        fast.add(FastHistogram("h", "s", "", (1.0,), ("k",))).record(0.5, ("a",))
        data = fast.inject(reader.get_metrics_data())
        scopes = data.resource_metrics[0].scope_metrics
        assert [[m.name for m in s.metrics] for s in scopes] == [["c", "h"]]

    def test_nothing_recorded_adds_nothing(self) -> None:
        """Before the first request no empty histogram is exported."""
        fast = FastHistograms("proxy", "1", Resource.create({}))
        fast.add(FastHistogram("h", "s", "", (1.0,), ("k",)))
        empty = MetricsData(resource_metrics=[])
        assert fast.inject(empty) is empty
