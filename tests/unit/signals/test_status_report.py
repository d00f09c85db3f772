"""The status report and the window reports, assembled from in-memory sources (no server)."""

from __future__ import annotations

import pytest
from memory_sources import NOW, monitor, sources, traffic

from sidecar import reports
from sidecar.signals.status import status_report

POLICY = reports.ReportPolicy()


class TestModelReports:
    def test_one_report_reads_drift_quality_and_outcomes_of_one_window(self) -> None:
        """A shifted feature drifts, a steady one does not, and the rows are those ingested."""
        watched = monitor()
        traffic(watched, 300, shift=3.0)
        found = reports.model_reports(watched, POLICY, None, "current", NOW)
        assert found.view.model == "m"
        assert found.drift.features["x0"].drift is True
        assert found.drift.features["x1"].drift is False
        assert found.view.snapshot.rows == 3_000
        assert found.outcome.performance.labelled_rows == 0

    def test_an_unknown_model_is_an_error(self) -> None:
        """Asking for a model that sent no traffic raises UnknownModel."""
        watched = monitor()
        traffic(watched, 3)
        with pytest.raises(reports.UnknownModel):
            reports.model_reports(watched, POLICY, "nobody", "current", NOW)

    def test_an_unknown_window_name_is_an_error(self) -> None:
        """Window names other than the documented ones are refused with the name in the message."""
        with pytest.raises(ValueError, match="sideways"):
            reports.check_view("sideways")


class TestStatusReport:
    def test_drifted_traffic_raises_feature_drift(self) -> None:
        """A 3 sd shift over 3,000 rows makes feature_drift non-ok and the status not ok."""
        watched = monitor()
        traffic(watched, 300, shift=3.0)
        report = status_report(sources(watched), NOW)
        verdicts = {s.name: s.verdict for s in report.signals}
        assert verdicts["feature_drift"] in ("warning", "critical")
        assert report.status != "ok"

    def test_no_traffic_is_unknown_not_ok(self) -> None:
        """Before any sampled traffic the model signal is unknown, never ok."""
        report = status_report(sources(monitor()), NOW)
        verdicts = {s.name: s.verdict for s in report.signals}
        assert verdicts["model"] == "unknown"
        assert report.to_json()["signals"]
