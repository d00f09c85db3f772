"""Reports over the monitor's one consistent copy: held drift, reference-relative quality."""

from __future__ import annotations

import json

import numpy as np

from sidecar import reports
from sidecar.monitor import Monitor, MonitorOptions
from sidecar.policies import Policies
from sidecar.records import Captured
from sidecar.reference.builder import ProfileBuilder
from sidecar.reference.profile import ReferenceProfile
from sidecar.signals import verdicts
from sidecar.signals.thresholds import StatusThresholds

NOW = 1_700_000_100.0
POLICY = reports.ReportPolicy()


def _pair(i: int, rows: list[dict[str, object]]) -> Captured:
    body = json.dumps({"instances": rows}).encode()
    answer = json.dumps({"predictions": [0] * len(rows)}).encode()
    headers = (("content-type", "application/json"),)
    return Captured(
        f"r{i}", "POST", "/v1/models/m:predict", "", 200, headers, body, answer, NOW, 0.01
    )


def _reference() -> ReferenceProfile:
    rng = np.random.default_rng(1)
    builder = ProfileBuilder()
    # "top_p" is never sent: missing from every reference row.
    builder.add({"x": rng.normal(0, 1, 5_000).tolist(), "top_p": [None] * 5_000})
    return builder.build()


def _monitor(shift: float, now: float = NOW, clear_after: float | None = None) -> Monitor:
    policies = Policies(status=StatusThresholds(clear_after_seconds=clear_after))
    options = MonitorOptions(window_seconds=10, policies=policies)
    monitor = Monitor(options, reference=_reference())
    rng = np.random.default_rng(2)
    rows = [{"x": float(v)} for v in rng.normal(shift, 1, 400)]
    monitor.ingest([_pair(i, rows[i * 40 : (i + 1) * 40]) for i in range(10)], now)
    return monitor


class TestReports:
    def test_a_field_missing_in_the_reference_too_is_not_a_quality_problem(self) -> None:
        """top_p missing from 100% of reference and live rows has excess 0; the signal is ok."""
        found = reports.model_reports(_monitor(0.0), POLICY, None, "current", NOW)
        top_p = next(f for f in found.quality.features if f.name == "top_p")
        assert (top_p.missing, top_p.excess("missing")) == (1.0, 0.0)
        t = verdicts.StatusThresholds()
        signal = next(
            s for s in verdicts.quality_signals(found.quality, t) if s.name.endswith("missing")
        )
        assert signal.verdict == "ok"

    def test_drift_is_held_for_one_window_after_it_clears(self) -> None:
        """Once its drifted rows left the window, a feature reads drifted (held) for 30 s."""
        monitor = _monitor(2.0, clear_after=30.0)
        first = reports.model_reports(monitor, POLICY, None, "current", NOW).drift.features["x"]
        assert first.drift is True and not first.held
        rows = [{"x": float(v)} for v in np.random.default_rng(3).normal(0, 1, 2_000)]
        monitor.ingest([_pair(100 + i, rows[i * 200 : (i + 1) * 200]) for i in range(10)], NOW + 12)
        held = reports.model_reports(monitor, POLICY, None, "current", NOW + 12).drift.features["x"]
        assert held.drift is True and held.held and held.reason.startswith("held")
        monitor.ingest([_pair(200 + i, rows[i * 200 : (i + 1) * 200]) for i in range(10)], NOW + 30)
        clean = reports.model_reports(monitor, POLICY, None, "current", NOW + 30.5).drift.features[
            "x"
        ]
        assert clean.drift is False

    def test_nothing_tested_is_unknown(self) -> None:
        """With every feature below min_samples, feature and dataset drift are unknown."""
        monitor = Monitor(MonitorOptions(window_seconds=10), reference=_reference())
        monitor.ingest([_pair(0, [{"x": 0.1}] * 20)], NOW)
        drift = reports.model_reports(monitor, POLICY, None, "current", NOW).drift
        t = verdicts.StatusThresholds()
        assert verdicts.feature_drift(drift.drifted_names(), drift.tested(), t).verdict == "unknown"
        assert verdicts.dataset_drift(drift, t).verdict == "unknown"

    def test_counters_are_one_copy(self) -> None:
        """counters() gives per-model rows and requests and the busiest model."""
        counters = _monitor(0.0).counters()
        assert (counters.busiest, counters.rows, counters.requests) == ("m", {"m": 400}, {"m": 10})


class TestCalibration:
    def test_a_calibrated_monitor_has_every_null_table(self) -> None:
        """With calibrate on, the tables exist before any report (a report only reads them)."""
        from sidecar.drift import calibrate
        from sidecar.drift_rules import DriftPolicy
        from sidecar.nulls import Calibration

        calibration = Calibration()
        assert calibrate(_reference(), DriftPolicy(), calibration) == 1  # top_p has no values
        monitor = Monitor(MonitorOptions(window_seconds=10, calibrate=True), reference=_reference())
        monitor.calibrate_in_background().join(60)
        assert (
            reports.model_reports(_monitor(0.0), POLICY, None, "current", NOW)
            .drift.features["x"]
            .drift
            is False
        )
