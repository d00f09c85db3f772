"""Deferred request metrics: folded in batches, exactly as recording each request on its own."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import numpy as np

from sidecar.decoders.routes import route_template
from sidecar.export.finished import FOLD_EVERY
from sidecar.export.histograms import FastHistogram
from sidecar.export.telemetry import DURATION_BUCKETS, SIZE_BUCKETS, HttpMetrics, Telemetry
from sidecar.signals.traffic import RequestStats

PATHS = ("/v1/models/a:predict", "/v1/models/b:predict", "/v2/models/a/infer", "/healthz")
METHODS = ("POST", "GET", "PUT", "BREW")
STATUSES = (200, 200, 200, 201, 404, 500, 502, 504, 0)
SERIES = ("http.request.method", "http.response.status_code", "http.route")
KINDS = (None, None, None, "timeout", "unavailable", "client_aborted", "mystery")


def _traffic(n: int, seed: int) -> list[tuple[Any, ...]]:
    """Seeded `record` arguments: several methods, routes, statuses, errors and sizes."""
    rng = random.Random(seed)
    return [
        (
            rng.choice(METHODS),
            rng.choice(PATHS),
            rng.choice(STATUSES),
            rng.lognormvariate(-6, 1.5),
            None if rng.random() < 0.2 else rng.lognormvariate(-7, 1.0),
            rng.randrange(0, 1 << 20),
            rng.randrange(0, 1 << 12),
            rng.choice(KINDS),
        )
        for _ in range(n)
    ]


def _points(histogram: FastHistogram) -> dict[tuple[Any, ...], Any]:
    metric = histogram.metric(0)
    assert metric is not None
    return {
        tuple(p.attributes.values()): (list(p.bucket_counts), p.count, p.sum, p.min, p.max)
        for p in metric.data.data_points
    }


def _metrics() -> tuple[HttpMetrics, RequestStats]:
    stats = RequestStats(DURATION_BUCKETS)
    return HttpMetrics(Telemetry.create(environ={}), stats), stats


class TestRecordBatch:
    def test_equals_recording_one_by_one(self) -> None:
        """Bucket counts, counts, sums (to the last bit), min and max equal `record`'s,
        across two batches on top of values recorded singly."""
        rng = np.random.default_rng(3)
        values = np.concatenate([rng.lognormal(-5, 2, 6_000), list(DURATION_BUCKETS)])
        index = rng.integers(0, 5, len(values)).astype(np.intp)
        keys = [("POST", 200 + k, "/r") for k in range(5)]
        single = FastHistogram("d", "s", "", DURATION_BUCKETS, ("m", "s", "r"))
        batched = FastHistogram("d", "s", "", DURATION_BUCKETS, ("m", "s", "r"))
        for value, k in zip(values.tolist(), index.tolist(), strict=True):
            single.record(value, keys[k])
        batched.record(float(values[0]), keys[int(index[0])])
        batched.record_batch(keys, index[1:3_000], values[1:3_000])
        batched.record_batch(keys, index[3_000:], values[3_000:])
        assert _points(batched) == _points(single)

    def test_request_stats_batch_equals_record(self) -> None:
        """The status ring counts a batch as it counts the same requests one by one, even
        when the clock steps back across a bucket."""
        times = [1_000.0, 1_004.0, 1_011.0, 1_009.0, 1_025.0, 1_025.5]
        statuses = [200, 500, 503, 200, 404, 200]
        durations = [0.001, 0.3, 0.02, 5.0, 0.0005, 0.07]
        timeouts = [False, True, False, False, True, False]
        single, batched = RequestStats(DURATION_BUCKETS), RequestStats(DURATION_BUCKETS)
        for row in zip(times, statuses, durations, timeouts, strict=True):
            single.record(*row)
        batched.record_batch(
            np.array(times), np.array(statuses), np.array(durations), np.array(timeouts)
        )
        for seconds in (10, 30, 3600):
            assert batched.span(1_026.0, seconds) == single.span(1_026.0, seconds)


class TestHttpMetricsFold:
    def test_fold_equals_per_request_recording(self) -> None:
        """Seeded mixed traffic gives the histograms, counters and status ring that recording
        each request on its own gives: same series, buckets, counts, sums, min and max."""
        metrics, _stats = _metrics()
        traffic = _traffic(3 * FOLD_EVERY + 17, seed=5)
        reference = {
            name: FastHistogram(name, "", "", bounds, keys)
            for name, bounds, keys in (
                ("duration", DURATION_BUCKETS, SERIES),
                ("upstream", DURATION_BUCKETS, SERIES),
                ("request", SIZE_BUCKETS, SERIES[:1]),
                ("response", SIZE_BUCKETS, SERIES[:1]),
            )
        }
        for args in traffic:
            metrics.started(args[0])
            metrics.record(*args)
        for method, path, status, duration, upstream, sent, received, _ in traffic:
            method = method if method != "BREW" else "_OTHER"
            route_key = (method, status, route_template(path))
            reference["duration"].record(duration, route_key)
            if upstream is not None:
                reference["upstream"].record(upstream, route_key)
            reference["request"].record(sent, (method,))
            reference["response"].record(received, (method,))
        metrics.flush()
        assert metrics.duration is not None
        assert _points(metrics.duration) == _points(reference["duration"])
        assert _points(metrics.upstream) == _points(reference["upstream"])
        assert _points(metrics.request_size) == _points(reference["request"])
        assert _points(metrics.response_size) == _points(reference["response"])
        kinds = [k for *_, k in traffic if k is not None]
        assert sum(metrics.error_counts.values()) == len(kinds)
        assert metrics.error_counts["other"] == kinds.count("mystery")
        assert metrics.error_counts["timeout"] == kinds.count("timeout")
        classes = [min(s // 100, 5) for _, _, s, *_ in traffic if s]
        assert dict(metrics.class_counts) == {c: classes.count(c) for c in set(classes)}
        assert sum(metrics.in_flight.values()) == 0

    def test_pending_requests_are_seen_by_a_scrape(self) -> None:
        """A scrape right after a few requests counts them, without any explicit flush."""
        telemetry = Telemetry.create(environ={})
        metrics = HttpMetrics(telemetry)
        for status in (200, 200, 503):
            metrics.started("POST")
            metrics.record("POST", "/v1/models/m:predict", status, 0.002, 0.001, 10, 20, None)
        labels = {"http_request_method": "POST", "http_response_status_code": "200"}
        labels["http_route"] = "/v1/models/{model}:predict"
        count = "http_server_request_duration_seconds_count"
        assert telemetry.registry.get_sample_value(count, labels) == 2
        classes = "sidecar_responses_total"
        assert telemetry.registry.get_sample_value(classes, {"status_class": "5xx"}) == 1

    def test_pending_requests_are_seen_by_the_status_ring(self) -> None:
        """`RequestStats.span` folds first: the status signals and readiness see every request."""
        metrics, stats = _metrics()
        metrics.started("POST")
        metrics.record("POST", "/p", 504, 30.0, None, 1, 0, "timeout")
        span = stats.span(time.time(), 60)
        assert (span.total, span.errors_5xx, span.timeouts) == (1, 1, 1)

    def test_folds_in_another_thread_lose_no_request(self) -> None:
        """Requests recorded while another thread keeps folding are all counted exactly once."""
        metrics, _ = _metrics()
        done = threading.Event()

        def fold() -> None:
            while not done.is_set():
                metrics.flush()

        folder = threading.Thread(target=fold)
        folder.start()
        try:
            for _ in range(20_000):
                metrics.started("POST")
                metrics.record("POST", "/p", 200, 0.001, 0.0005, 5, 7, None)
        finally:
            done.set()
            folder.join()
        metrics.flush()
        assert metrics.duration is not None
        (point,) = _points(metrics.duration).values()
        assert point[1] == 20_000 and sum(point[0]) == 20_000
        assert metrics.class_counts[2] == 20_000
