"""The page's history: its bound, its snapshot round trip, and summaries of closed windows."""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import pytest
from page_sources import NOW, WINDOW, drifted_sources, reference, shifted_values

from sidecar import reports
from sidecar.history import DEFAULT_CAPACITY, ColumnPoint, History, Summary, TrafficPoint
from sidecar.monitor import Monitor, MonitorOptions
from sidecar.persistence import DEFAULT_FILE_NAME, StateStore
from sidecar.recorder import HistoryRecorder, summary_from_reports, traffic_point


def _summary(start: float, statistic: float = 0.1) -> Summary:
    column = ColumnPoint("psi", statistic, 0.2, statistic > 0.2, 0.0, 0.01)
    output = ColumnPoint("js", 0.05, 0.1, False, distribution={"0": 0.6, "1": 0.4})
    return Summary(
        start,
        start + WINDOW,
        rows=100,
        status="warning",
        signals={"feature_drift": "warning"},
        dataset_share=0.5,
        features={"x0": column},
        predictions={"prediction": output},
        performance={"accuracy": 0.9, "estimated_accuracy": None},
        fairness={"group": 0.02},
    )


class TestHistoryBound:
    def test_a_model_keeps_at_most_capacity_summaries_newest_last(self) -> None:
        """Recording more windows than the capacity keeps the newest `capacity`, in order."""
        history = History(capacity=5)
        for i in range(12):
            history.record("m", _summary(NOW + i * WINDOW))
        starts = [s.start for s in history.summaries("m")]
        assert starts == [NOW + i * WINDOW for i in range(7, 12)]

    def test_the_default_bound_is_a_day_of_default_windows(self) -> None:
        """288 summaries of 300-s windows are 24 hours."""
        assert DEFAULT_CAPACITY * 300 == 24 * 3600
        assert History().capacity == DEFAULT_CAPACITY

    def test_the_same_window_twice_keeps_one_summary_the_newer(self) -> None:
        """A window summarised again (a restart) replaces its summary; an older one is ignored."""
        history = History()
        history.record("m", _summary(NOW, 0.1))
        history.record("m", _summary(NOW + WINDOW, 0.1))
        history.record("m", _summary(NOW + WINDOW, 0.3))
        history.record("m", _summary(NOW - WINDOW, 0.5))
        kept = history.summaries("m")
        assert [s.start for s in kept] == [NOW, NOW + WINDOW]
        assert kept[-1].features["x0"].statistic == 0.3

    def test_models_beyond_the_bound_are_not_recorded(self) -> None:
        """A model past `max_models` is refused, the others keep recording."""
        history = History(max_models=2)
        assert history.record("a", _summary(NOW)) and history.record("b", _summary(NOW))
        assert not history.record("c", _summary(NOW))
        assert history.record("a", _summary(NOW + WINDOW))
        assert history.models() == ["a", "b"]

    def test_traffic_points_share_the_capacity(self) -> None:
        """Traffic points are a ring of the same capacity."""
        history = History(capacity=3)
        for i in range(5):
            history.record_traffic(TrafficPoint(NOW + i, 10.0, i, 0))
        assert [p.requests for p in history.traffic()] == [2, 3, 4]

    def test_a_bad_bound_is_refused(self) -> None:
        """A capacity below 1 raises ValueError naming it."""
        with pytest.raises(ValueError, match="capacity=0"):
            History(capacity=0)


class TestHistoryRoundTrip:
    def test_to_dict_and_load_dict_give_back_the_same_history(self) -> None:
        """Through JSON and back, every summary and traffic point is equal."""
        history = History()
        for i in range(4):
            history.record("m", _summary(NOW + i * WINDOW, 0.05 * i))
        history.record("n", _summary(NOW))
        history.record_traffic(TrafficPoint(NOW, 60.0, 120, 3, 0.004, 0.2))
        again = History()
        again.load_dict(json.loads(json.dumps(history.to_dict())))
        assert again.models() == ["m", "n"]
        assert again.summaries("m") == history.summaries("m")
        assert again.traffic() == history.traffic()

    def test_loading_keeps_the_newest_under_a_smaller_capacity(self) -> None:
        """A saved ring longer than the current capacity keeps its newest summaries."""
        history = History(capacity=10)
        for i in range(10):
            history.record("m", _summary(NOW + i * WINDOW))
        smaller = History(capacity=4)
        smaller.load_dict(history.to_dict())
        assert [s.start for s in smaller.summaries("m")] == [NOW + i * WINDOW for i in range(6, 10)]

    def test_another_version_is_refused_and_changes_nothing(self) -> None:
        """A document of an unknown version raises ValueError; the history stays as it was."""
        history = History()
        history.record("m", _summary(NOW))
        with pytest.raises(ValueError, match="version 99"):
            history.load_dict({"version": 99, "models": {}, "traffic": []})
        assert len(history.summaries("m")) == 1

    def test_unusable_fields_restore_as_none(self) -> None:
        """A summary whose figures are of the wrong type restores with None in their place."""
        summary = Summary.from_dict(
            {"start": NOW, "end": NOW + 1, "features": {"x": {"statistic": "high", "drift": 1}}}
        )
        assert summary.features["x"] == ColumnPoint()


class TestRecorder:
    def test_a_closed_window_is_summarised_as_the_api_reports_it(self) -> None:
        """Sampled after the boundary, the summary of the previous window carries the drift
        statistic, verdict and threshold `/api/v1/drift` gave for that window."""
        sources = drifted_sources(shift=1.5)
        history = History()
        recorder = HistoryRecorder(sources, history, WINDOW)
        later = NOW + WINDOW + 0.5
        assert recorder.sample(later) == 1
        (summary,) = history.summaries("m")
        drift = reports.drift_json(sources.monitor, sources.policy, "m", "current", later)[
            "features"
        ]["x0"]
        point = summary.features["x0"]
        assert (summary.start, summary.end, summary.rows) == (NOW, NOW + WINDOW, 400)
        assert point.statistic == pytest.approx(drift["statistics"][drift["method"]], rel=1e-3)
        assert (point.drift, point.threshold) == (True, drift["threshold"])
        assert summary.signals["feature_drift"] != "ok"
        shares = summary.predictions["prediction"].distribution
        assert shares["1"] == pytest.approx(sum(v > 0 for v in shifted_values(1.5)) / 400)

    def test_an_empty_window_is_not_recorded_and_traffic_is(self) -> None:
        """A window with no rows adds no summary; the traffic point counts requests and 5xx."""
        sources = drifted_sources(shift=0.0)
        history = History()
        recorder = HistoryRecorder(sources, history, WINDOW)
        assert recorder.sample(NOW + 5 * WINDOW) == 0
        assert history.summaries("m") == ()
        point = traffic_point(sources.stats, NOW + WINDOW - 1, WINDOW)
        assert (point.requests, point.errors, point.error_rate) == (50, 5, 0.1)
        assert point.p50 is not None and point.p99 is not None and point.p50 < point.p99

    def test_the_next_sample_is_just_after_the_next_boundary(self) -> None:
        """The timer waits until DEFAULT_DELAY after the next multiple of the window length."""
        recorder = HistoryRecorder(drifted_sources(0.0), History(), WINDOW)
        assert recorder.delay(NOW + 10) == pytest.approx(WINDOW - 10 + 0.5)

    def test_missing_or_renamed_report_keys_become_none(self) -> None:
        """Documents without the expected keys give a summary of Nones, never an error."""
        summary = summary_from_reports(
            (NOW, NOW + WINDOW),
            {"features": {"x0": {"method": "psi", "stats": {"psi": 0.3}}}, "dataset": []},
            {"features": "oops"},
            {"performance": None, "fairness": {"attributes": "no"}},
            {"signals": [{"name": "drift"}, "odd"]},
        )
        assert summary.features["x0"].statistic is None and summary.dataset_share is None
        assert summary.signals == {"drift": "None"} and summary.fairness == {}


class TestSnapshot:
    def _saved(self, tmp_path: Path) -> tuple[Monitor, History]:
        monitor = Monitor(MonitorOptions(window_seconds=int(WINDOW)), reference=reference())
        history = History()
        for i in range(3):
            history.record("m", _summary(NOW + i * WINDOW))
        history.record_traffic(TrafficPoint(NOW, WINDOW, 10, 0))
        assert StateStore(tmp_path, history=history).save(monitor, NOW)
        return monitor, history

    def test_the_history_survives_a_restart(self, tmp_path: Path) -> None:
        """A restarted sidecar's history equals the one saved in the snapshot."""
        _, before = self._saved(tmp_path)
        after = History()
        monitor = Monitor(MonitorOptions(window_seconds=int(WINDOW)), reference=reference())
        restored = StateStore(tmp_path, history=after).restore(monitor, NOW + 5)
        assert restored is not None and restored.summaries == 3
        assert after.summaries("m") == before.summaries("m")
        assert after.traffic() == before.traffic()

    def test_a_snapshot_without_history_restores_fine(self, tmp_path: Path) -> None:
        """A snapshot written before the history existed restores, with an empty history."""
        self._saved(tmp_path)
        path = tmp_path / DEFAULT_FILE_NAME
        data = json.loads(gzip.decompress(path.read_bytes()))
        del data["history"]
        path.write_bytes(gzip.compress(json.dumps(data).encode()))
        after = History()
        monitor = Monitor(MonitorOptions(window_seconds=int(WINDOW)), reference=reference())
        restored = StateStore(tmp_path, history=after).restore(monitor, NOW + 5)
        assert restored is not None and restored.summaries == 0 and after.models() == []
        assert path.exists()

    def test_an_unreadable_history_is_dropped_and_the_rest_restores(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A history of an unknown version is dropped with one warning; windows still restore."""
        self._saved(tmp_path)
        path = tmp_path / DEFAULT_FILE_NAME
        data = json.loads(gzip.decompress(path.read_bytes()))
        data["history"]["version"] = 99
        path.write_bytes(gzip.compress(json.dumps(data).encode()))
        monitor = Monitor(MonitorOptions(window_seconds=int(WINDOW)), reference=reference())
        with caplog.at_level(logging.WARNING, logger="sidecar.persistence"):
            restored = StateStore(tmp_path, history=History()).restore(monitor, NOW + 5)
        assert restored is not None and restored.summaries == 0
        assert any("history" in r.getMessage() for r in caplog.records)

    def test_a_full_summary_is_a_few_kilobytes(self) -> None:
        """A summary of 40 columns is about 6 kB of JSON (the size the docstring states)."""
        column = ColumnPoint("wasserstein", 0.1235, 0.1, True, 0.0123, 0.0004567)
        summary = Summary(
            NOW,
            NOW + WINDOW,
            signals={f"signal_{i:02d}": "warning" for i in range(22)},
            features={f"feature_{i:03d}": column for i in range(40)},
        )
        size = len(json.dumps(summary.to_dict()))
        print(f"summary of 40 columns: {size} bytes of JSON")
        assert size < 6_500
