"""Upstream, latency SLO, error-budget burn and sidecar-health signals (sidecar.signals.slo)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sidecar.signals.slo import (
    analysis_cpu,
    burn_rate,
    capture_drops,
    decode_errors,
    error_budget_burn,
    histogram_quantile,
    latency_slo,
    queue_saturation,
    upstream_errors,
    upstream_timeouts,
)
from sidecar.signals.thresholds import StatusThresholds

T = StatusThresholds()
BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]


def _histogram(latencies: np.ndarray) -> list[int]:
    """Per-bucket counts with a final +Inf bucket, as the OTel histogram keeps them."""
    idx = np.searchsorted(np.asarray(BOUNDS), latencies, side="left")
    return np.bincount(idx, minlength=len(BOUNDS) + 1).tolist()


class TestHistogramQuantile:
    def test_interpolates_inside_the_bucket(self) -> None:
        """Hand-computed: 10 in (0,1], 10 in (1,2]; the median is 1 and p75 is 1.5."""
        assert histogram_quantile(0.5, [1.0, 2.0], [10, 10]) == 1.0
        assert histogram_quantile(0.75, [1.0, 2.0], [10, 10, 0]) == 1.5

    def test_overflow_bucket_returns_highest_bound(self) -> None:
        """A quantile in the +Inf bucket is the highest finite bound, as in Prometheus."""
        assert histogram_quantile(0.99, [1.0, 2.0], [1, 1, 98]) == 2.0

    def test_close_to_numpy_on_uniform_buckets(self) -> None:
        """On values spread evenly inside each bucket the estimate is within one step of numpy."""
        edges = [0.0, *BOUNDS]
        values = np.concatenate(
            [
                np.linspace(a, b, 200, endpoint=False) + (b - a) / 400
                for a, b in itertools.pairwise(edges)
            ]
        )
        for q in (0.5, 0.9, 0.99):
            got = histogram_quantile(q, BOUNDS, _histogram(values))
            assert got == pytest.approx(float(np.quantile(values, q)), abs=0.02)

    def test_empty_histogram_is_none(self) -> None:
        """No observations give no quantile."""
        assert histogram_quantile(0.99, BOUNDS, [0] * 15) is None

    def test_rejects_mismatched_counts(self) -> None:
        """Counts that fit neither n nor n+1 buckets are a ValueError."""
        with pytest.raises(ValueError, match="3 counts"):
            histogram_quantile(0.5, [1.0], [1, 2, 3])


class TestLatencySlo:
    def test_slow_upstream_is_critical(self) -> None:
        """Seeded latencies with 5% around 2 s put p99 over the 500 ms SLO."""
        rng = np.random.default_rng(1)
        lat = np.concatenate([rng.uniform(0.01, 0.1, 950), rng.uniform(1.5, 2.5, 50)])
        s = latency_slo(BOUNDS, _histogram(lat), T)
        assert (s.verdict, s.threshold) == ("critical", 0.5)

    def test_fast_upstream_is_ok(self) -> None:
        """Latencies under 100 ms are ok."""
        rng = np.random.default_rng(2)
        s = latency_slo(BOUNDS, _histogram(rng.uniform(0.01, 0.1, 1000)), T)
        assert s.verdict == "ok" and s.value is not None and s.value < 0.1

    def test_near_slo_warns(self) -> None:
        """A p99 between 80% and 100% of the SLO warns."""
        lat = np.full(1000, 0.45)
        assert latency_slo(BOUNDS, _histogram(lat), T).verdict == "warning"

    def test_thin_is_unknown(self) -> None:
        """Ten requests are too few to judge a p99."""
        assert latency_slo(BOUNDS, _histogram(np.full(10, 3.0)), T).verdict == "unknown"


class TestUpstreamRates:
    def test_5xx(self) -> None:
        """10% 5xx is critical, 0.5% ok, 10 requests unknown."""
        assert upstream_errors(1000, 100, T).verdict == "critical"
        assert upstream_errors(1000, 5, T).verdict == "ok"
        assert upstream_errors(10, 10, T).verdict == "unknown"

    def test_timeouts(self) -> None:
        """1% timeouts warns, none is ok, too few requests is unknown."""
        assert upstream_timeouts(1000, 10, T).verdict == "warning"
        assert upstream_timeouts(1000, 0, T).verdict == "ok"
        assert upstream_timeouts(3, 3, T).verdict == "unknown"

    def test_rejects_more_bad_than_total(self) -> None:
        """More errors than requests is a ValueError naming both."""
        with pytest.raises(ValueError, match="5xx=5 <= total=2"):
            upstream_errors(2, 5, T)


class TestErrorBudgetBurn:
    def test_burn_rate_definition(self) -> None:
        """1.44% errors against a 99.9% SLO burns the budget 14.4 times too fast."""
        assert burn_rate(10_000, 144, 0.999) == pytest.approx(14.4)

    def test_fast_burn_on_both_windows_is_critical(self) -> None:
        """2% errors over 1 h and 5 m is a page."""
        s = error_budget_burn(1000, 20, 12_000, 240, T)
        assert s.verdict == "critical" and s.value == pytest.approx(20.0)

    def test_burn_that_stopped_is_not_critical(self) -> None:
        """A burning hour whose last 5 minutes are clean does not page."""
        assert error_budget_burn(1000, 0, 12_000, 240, T).verdict == "ok"

    def test_slow_burn_warns(self) -> None:
        """0.8% errors on both windows burns 8x: a warning."""
        assert error_budget_burn(1000, 8, 12_000, 96, T).verdict == "warning"

    def test_thin_is_unknown(self) -> None:
        """Fewer requests in the hour than min_requests is unknown."""
        assert error_budget_burn(5, 5, 5, 5, T).verdict == "unknown"


class TestSidecarHealth:
    def test_capture_drops(self) -> None:
        """20% drops is critical, none ok, thin unknown."""
        assert capture_drops(1000, 200, T).verdict == "critical"
        assert capture_drops(1000, 0, T).verdict == "ok"
        assert capture_drops(10, 5, T).verdict == "unknown"

    def test_decode_errors(self) -> None:
        """2% undecodable warns, none ok, thin unknown."""
        assert decode_errors(1000, 20, T).verdict == "warning"
        assert decode_errors(1000, 0, T).verdict == "ok"
        assert decode_errors(1, 1, T).verdict == "unknown"

    def test_queue_saturation(self) -> None:
        """A full queue is critical, a 10% full one ok."""
        assert queue_saturation(1000, 1000, T).verdict == "critical"
        assert queue_saturation(100, 1000, T).verdict == "ok"
        with pytest.raises(ValueError, match="capacity=0"):
            queue_saturation(1, 0, T)

    def test_analysis_cpu_at_cap(self) -> None:
        """CPU at its cap warns; half the cap is ok."""
        assert analysis_cpu(0.25, 0.25, T).verdict == "warning"
        assert analysis_cpu(0.1, 0.25, T).verdict == "ok"
        with pytest.raises(ValueError, match="cap 0"):
            analysis_cpu(0.1, 0, T)
