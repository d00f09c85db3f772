"""Failure signals over seeded windows: each fires, stays quiet, or is unknown on thin data."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sidecar.drift import ColumnDrift, DriftReport, dataset_verdict
from sidecar.drift_rules import DriftPolicy
from sidecar.feature_rates import FeatureSpec
from sidecar.quality import ColumnCounts, Schema, WindowTotals, assess_quality
from sidecar.signals.verdicts import (
    Signal,
    StatusReport,
    StatusThresholds,
    against_floor,
    dataset_drift,
    fairness,
    feature_drift,
    overall_status,
    prediction_collapse,
    prediction_drift,
    quality_signals,
)
from sidecar.windows import WindowState

T = StatusThresholds()
SCHEMA = Schema(
    (FeatureSpec("age", "numeric", 0.0, 1.0), FeatureSpec("city", "categorical")),
    rows_per_request=(1.0, 10.0),
)


def _quality(
    rows: int, age: ColumnCounts, requests: int = 100, errors: int = 0
) -> dict[str, Signal]:
    totals = WindowTotals(rows, requests, errors, rows, requests, 1, 3)
    city = ColumnCounts(rows, rows, 0, kind="categorical")
    report = assess_quality(SCHEMA, {"age": age, "city": city}, totals)
    return {s.name: s for s in quality_signals(report, T)}


class TestQualitySignals:
    def test_missing_feature_is_critical(self) -> None:
        """A feature missing from 30% of 200 rows is critical and names the feature."""
        s = _quality(200, ColumnCounts(200, 140, 60))["data_quality_missing"]
        assert (s.verdict, s.value, s.threshold) == ("critical", 0.3, T.missing_critical)
        assert "'age'" in s.detail

    def test_nan_between_bounds_is_warning(self) -> None:
        """5% NaN sits between the 1% warning and 10% critical bounds."""
        s = _quality(200, ColumnCounts(200, 200, 0, nan=10))["data_quality_nan"]
        assert s.verdict == "warning"

    def test_clean_window_is_ok(self) -> None:
        """A clean window is ok on every check."""
        signals = _quality(200, ColumnCounts(200, 200, 0))
        assert {s.verdict for s in signals.values()} == {"ok"}

    def test_thin_window_is_unknown(self) -> None:
        """Fewer rows than min_rows make per-feature checks unknown, even at 100% missing."""
        s = _quality(10, ColumnCounts(10, 0, 10), requests=10)
        assert s["data_quality_missing"].verdict == "unknown"
        assert s["data_quality_payload_errors"].verdict == "unknown"

    def test_payload_errors_fire(self) -> None:
        """10 undecodable payloads of 100 is critical at the 5% bound."""
        s = _quality(200, ColumnCounts(200, 200, 0), errors=10)["data_quality_payload_errors"]
        assert (s.verdict, s.value) == ("critical", 0.1)

    def test_unexpected_features_warn(self) -> None:
        """An unknown column is a warning that names it."""
        totals = WindowTotals(200, 100)
        report = assess_quality(SCHEMA, {"zip": ColumnCounts(200, 200, 0)}, totals)
        s = next(s for s in quality_signals(report, T) if s.name.endswith("unexpected_features"))
        assert s.verdict == "warning" and "zip" in s.detail


def _report(drifted: int, tested: int) -> DriftReport:
    """A drift report whose first `drifted` of `tested` features drifted."""
    column = ColumnDrift("numeric", 500, 5000, 0, {}, "wasserstein", 0.1, False)
    features = {f"f{i}": replace(column, drift=i < drifted) for i in range(tested)}
    return dataset_verdict(WindowState(0.0, 10.0), features, {}, DriftPolicy())


class TestDriftSignals:
    def test_feature_drift_names_features(self) -> None:
        """Two drifted features of ten warn and are named."""
        s = feature_drift(["b", "a"], 10, T)
        assert (s.verdict, s.value) == ("warning", 2.0)
        assert "a, b" in s.detail

    def test_no_feature_drift_is_ok(self) -> None:
        """No drifted feature is ok."""
        assert feature_drift([], 10, T).verdict == "ok"

    def test_dataset_drift_is_the_reports_verdict(self) -> None:
        """1, 3 and 6 drifted of 10 are ok, ok and critical (one threshold 0.5); none: unknown."""
        assert [dataset_drift(_report(k, 10), T).verdict for k in (1, 3, 6)] == [
            "ok",
            "ok",
            "critical",
        ]
        signal = dataset_drift(_report(6, 10), T)
        assert (signal.value, signal.threshold) == (0.6, 0.5)
        assert dataset_drift(_report(0, 0), T).verdict == "unknown"

    def test_prediction_drift(self) -> None:
        """A drifted output warns (critical when configured); no tested output is unknown."""
        assert prediction_drift(["prediction"], 1, T).verdict == "warning"
        assert prediction_drift([], 1, T).verdict == "ok"
        assert prediction_drift([], 0, T).verdict == "unknown"
        strict = StatusThresholds(prediction_drift_critical=True)
        assert prediction_drift(["prediction"], 1, strict).verdict == "critical"

    def test_rejects_more_drifted_than_tested(self) -> None:
        """More drifted names than tested features is a ValueError."""
        with pytest.raises(ValueError, match="n_features=1"):
            feature_drift(["a", "b"], 1, T)


class TestPredictionCollapse:
    def test_one_class_everywhere_is_critical(self) -> None:
        """995 of 1,000 seeded predictions in one class is critical."""
        labels = np.array(["yes"] * 995 + ["no"] * 5)
        share = float(np.unique(labels, return_counts=True)[1].max() / labels.size)
        s = prediction_collapse(labels.size, share, None, T)
        assert (s.verdict, s.value) == ("critical", 0.995)

    def test_balanced_classes_are_ok(self) -> None:
        """A 60/40 split is ok."""
        assert prediction_collapse(1000, 0.6, None, T).verdict == "ok"

    def test_numeric_std_near_zero_is_critical(self) -> None:
        """A regression output whose std falls to 0.1% of the reference std collapses."""
        rng = np.random.default_rng(3)
        flat = 5.0 + rng.normal(0, 0.001, 500)
        assert prediction_collapse(500, None, float(flat.std()), T, reference_std=1.0).verdict == (
            "critical"
        )
        spread = rng.normal(5.0, 1.0, 500)
        assert prediction_collapse(500, None, float(spread.std()), T, 1.0).verdict == "ok"

    def test_thin_window_is_unknown(self) -> None:
        """Fifty predictions all in one class are too few to call a collapse."""
        assert prediction_collapse(50, 1.0, None, T).verdict == "unknown"


class TestPerformance:
    def test_accuracy_below_floor_is_critical(self) -> None:
        """Accuracy 0.75 under a 0.8 floor is critical; 0.81 warns; 0.9 is ok."""
        t = StatusThresholds(performance_floor=0.8)
        assert [against_floor("accuracy", v, t, 0.8, "").verdict for v in (0.75, 0.81, 0.9)] == [
            "critical",
            "warning",
            "ok",
        ]

    def test_error_metric_floor_is_a_ceiling(self) -> None:
        """For RMSE, higher is worse: 2.5 over a 2.0 bound is critical, 1.0 is ok."""
        t = StatusThresholds(performance_floor=2.0)
        assert against_floor("rmse", 2.5, t, 2.0, "").verdict == "critical"
        assert against_floor("rmse", 1.0, t, 2.0, "").verdict == "ok"


class TestFairness:
    def test_gap_levels(self) -> None:
        """Parity differences 0.05, 0.15 and 0.3 are ok, warning and critical."""
        assert [
            fairness("demographic_parity_difference", v, 100, T).verdict for v in (0.05, 0.15, 0.3)
        ] == ["ok", "warning", "critical"]

    def test_ratio_lower_is_worse(self) -> None:
        """A parity ratio of 0.5 is critical, 0.9 ok (four-fifths rule)."""
        assert fairness("demographic_parity_ratio", 0.5, 100, T).verdict == "critical"
        assert fairness("demographic_parity_ratio", 0.9, 100, T).verdict == "ok"

    def test_small_group_is_unknown(self) -> None:
        """A group smaller than the minimum makes the gap unknown."""
        assert fairness("demographic_parity_difference", 0.9, 5, T).verdict == "unknown"


class TestOverallStatus:
    def test_worst_verdict_wins(self) -> None:
        """Critical beats warning beats ok beats unknown."""
        sigs = [
            Signal("a", "ok", 0, 1),
            Signal("b", "unknown", None, None),
            Signal("c", "warning", 1, 1),
        ]
        assert overall_status(sigs) == "warning"
        assert overall_status([*sigs, Signal("d", "critical", 2, 1)]) == "critical"

    def test_all_unknown_is_unknown(self) -> None:
        """Only when every signal is unknown (or there are none) is the overall unknown."""
        assert overall_status([Signal("a", "unknown", None, None)]) == "unknown"
        assert overall_status([]) == "unknown"

    def test_report_json_shape(self) -> None:
        """The report has status, signals with status/value/threshold and an ISO 8601 time."""
        report = StatusReport((Signal("x", "critical", float("inf"), 0.5, "d"),), 0.0)
        assert report.to_json() == {
            "status": "critical",
            "signals": [
                {"name": "x", "status": "critical", "value": None, "threshold": 0.5, "detail": "d"}
            ],
            "generated_at": "1970-01-01T00:00:00Z",
        }

    def test_rejects_unknown_verdict(self) -> None:
        """A verdict outside the four is a ValueError."""
        with pytest.raises(ValueError, match="'bad'"):
            Signal("x", "bad", 0, 0)  # type: ignore[arg-type]
