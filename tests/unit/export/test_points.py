"""The analysis metrics, read from in-memory sources through a fresh Prometheus registry."""

from __future__ import annotations

import threading
import time

from memory_sources import NOW, monitor, sources, traffic

from sidecar.export.features import FeatureExport
from sidecar.export.instruments import WindowPointsRefresher, register_analysis_metrics
from sidecar.export.points import ExportSources, Points, counter_points, window_points
from sidecar.export.telemetry import Telemetry


def _registered(shift: float) -> Telemetry:
    export = FeatureExport(max_features=10)
    watched = monitor(observers=(export,))
    # The registry reads the window at the wall clock, so the traffic is stamped with it.
    traffic(watched, 300, shift=shift, now=time.time())
    telemetry = Telemetry.create({})
    register_analysis_metrics(telemetry, ExportSources(sources(watched), export))
    return telemetry


class TestWindowPoints:
    def test_rows_and_drift_of_each_exported_feature(self) -> None:
        """Each feature's window rows and drift verdict reach the registry under its labels."""
        registry = _registered(shift=3.0).registry
        labels = {"model": "m", "feature": "x0"}
        assert registry.get_sample_value("sidecar_feature_rows", labels) == 3_000
        assert registry.get_sample_value("sidecar_feature_drift_detected", labels) == 1
        steady = {"model": "m", "feature": "x1"}
        assert registry.get_sample_value("sidecar_feature_drift_detected", steady) == 0

    def test_status_gauges_and_report_age(self) -> None:
        """The status signals are exported with the age of the figures they come from."""
        registry = _registered(shift=3.0).registry
        assert registry.get_sample_value("sidecar_status", {"signal": "feature_drift"}) in (1, 2)
        age = registry.get_sample_value("sidecar_analysis_report_age_seconds")
        assert age is not None and age >= 0

    def test_counters_need_no_window_report(self) -> None:
        """The process counters are read without computing any window report."""
        watched = monitor()
        traffic(watched, 5)
        points = counter_points(ExportSources(sources(watched), FeatureExport()))
        assert points["sidecar.prediction_store.entries"] == [(5, {})]
        assert "sidecar.feature.rows" not in points
        reasons = {a["reason"] for _, a in points["sidecar.capture.dropped"]}
        assert reasons == {"too_large", "queue_full", "rate_cap", "incomplete", "shutdown"}

    def test_window_points_of_a_monitor_without_traffic(self) -> None:
        """No model yet: no per-model series, and the model signal reads unknown (-1)."""
        watched = monitor()
        points = window_points(ExportSources(sources(watched), FeatureExport()), NOW)
        assert "sidecar.feature.rows" not in points
        assert (-1, {"signal": "model"}) in points["sidecar.status"]


class TestRefresher:
    def test_a_slow_report_serves_the_last_complete_set(self) -> None:
        """While a new set is being computed past the wait, the previous set is served."""
        release = threading.Event()
        calls: list[float] = []

        def compute(now: float) -> Points:
            calls.append(now)
            if len(calls) > 1:
                release.wait(10)
            return {"n": [(float(len(calls)), {})]}

        clock = iter(float(t) for t in range(0, 1000, 10))
        refresher = WindowPointsRefresher(compute, clock=lambda: next(clock), wait_seconds=0.05)
        first, _ = refresher.get(max_age=1.0)
        assert first == {} or first["n"] == [(1.0, {})]
        while not calls:
            threading.Event().wait(0.01)
        served, _ = refresher.get(max_age=1.0)
        served_again, _ = refresher.get(max_age=1.0)
        release.set()
        refresher.stop()
        assert served.get("n", [(1.0, {})]) == [(1.0, {})]
        assert served_again.get("n", [(1.0, {})]) == [(1.0, {})]

    def test_a_failing_report_keeps_the_last_set(self) -> None:
        """An exception while computing is logged; the last complete set stays served."""
        results: list[Points | Exception] = [{"n": [(1.0, {})]}, RuntimeError("boom")]
        done = threading.Event()

        def compute(now: float) -> Points:
            result = results.pop(0) if results else {"n": [(3.0, {})]}
            if not results:
                done.set()
            if isinstance(result, Exception):
                raise result
            return result

        refresher = WindowPointsRefresher(compute, wait_seconds=5.0)
        assert refresher.get(max_age=0.0)[0] == {"n": [(1.0, {})]}
        points, _ = refresher.get(max_age=0.0)  # the second set raises
        refresher.stop()
        assert done.is_set()
        assert points == {"n": [(1.0, {})]}


class TestInjectedMetrics:
    def test_exposition_equals_the_sdk_observable_instruments(self) -> None:
        """The ready-made analysis metrics print exactly as SDK observable instruments would."""
        from opentelemetry.metrics import CallbackOptions, Observation
        from prometheus_client import generate_latest

        from sidecar.export.instruments import INSTRUMENTS, AnalysisMetrics

        telemetry = _registered(shift=3.0)
        ours = generate_latest(telemetry.registry).decode()
        export = FeatureExport(max_features=10)
        watched = monitor(observers=(export,))
        traffic(watched, 300, shift=3.0, now=time.time())
        reference = Telemetry.create({})
        metrics = AnalysisMetrics(ExportSources(sources(watched), export))
        meter = reference.provider.get_meter("sidecar.analysis")
        for instrument in INSTRUMENTS:
            create = (
                meter.create_observable_counter
                if instrument.kind == "counter"
                else meter.create_observable_gauge
            )

            def observe(options: CallbackOptions, name: str = instrument.name) -> list[Observation]:
                return [Observation(v, dict(a)) for v, a in metrics.points().get(name, ())]

            create(instrument.name, [observe], instrument.unit, instrument.description)
        generate_latest(reference.registry)  # the first collection starts the window figures
        metrics.windows.get(0.0)
        theirs = generate_latest(reference.registry).decode()

        def lines(text: str) -> set[str]:
            # The report's age differs between the two processes' collections.
            return {line for line in text.splitlines() if "report_age" not in line}

        assert "sidecar_feature_drift{" in ours and "sidecar_feature_bin_rows_total{" in ours
        assert lines(ours) == lines(theirs)

    def test_metrics_text_equals_the_registry_in_both_formats(self) -> None:
        """/metrics' own text of the window figures prints what the registry's families print."""
        from prometheus_client import generate_latest
        from prometheus_client.openmetrics.exposition import generate_latest as openmetrics

        telemetry = _registered(shift=3.0)
        generate_latest(telemetry.registry)  # the figures are computed by now
        for encoder, flag in ((generate_latest, False), (openmetrics, True)):
            fast = telemetry.exposition(encoder, flag).decode()
            slow = encoder(telemetry.registry).decode()
            assert "sidecar_feature_drift{" in fast and fast.count("# EOF") == int(flag)
            assert sorted(fast.splitlines()) == sorted(slow.splitlines()), flag

    def test_odd_label_values_and_numbers_print_as_prometheus_client_prints_them(self) -> None:
        """Quotes, backslashes, newlines, infinities, NaN and big numbers, in both formats."""
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.openmetrics.exposition import generate_latest as openmetrics

        from sidecar.export.exposition import FamiliesCollector, Spec, encode, probe_families

        specs = (
            Spec("sidecar.feature.drift", "gauge", "", "Drift."),
            Spec("sidecar.feature.bin_rows", "counter", "{row}", "Rows."),
            Spec("sidecar.analysis.report_age", "gauge", "s", "Age."),
        )
        families = probe_families(specs)
        odd = {"model": 'a"b\\c\nd', "feature": "é ü"}
        points: Points = {
            "sidecar.feature.drift": [(float("inf"), odd), (float("nan"), {"model": "m"})],
            "sidecar.feature.bin_rows": [(12345678901.0, odd), (3, {})],
            "sidecar.analysis.report_age": [(-0.0, {}), (1e-12, {"model": "x"})],
        }
        registry = CollectorRegistry()
        registry.register(FamiliesCollector(lambda: points, families))
        for encoder, flag in ((generate_latest, False), (openmetrics, True)):
            ours = encode(points, families, flag)
            theirs = encoder(registry).decode().replace("# EOF\n", "")
            assert ours == theirs, flag
