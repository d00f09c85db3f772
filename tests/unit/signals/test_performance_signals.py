"""The performance and low-confidence signals: which figure they judge, and what they count."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from sidecar.commands.demo import write_demo_files
from sidecar.demo.model import generate, training_data
from sidecar.outcomes.windows import OutcomeWindows
from sidecar.reference.profile import load_reference
from sidecar.signals.performance import confidence_signal, performance_signal
from sidecar.signals.thresholds import StatusThresholds

T = StatusThresholds(performance_floor=0.6)


def _scored(outcomes: OutcomeWindows, p: np.ndarray, labels: np.ndarray | None = None) -> None:
    start = outcomes.record_prediction(0.0, p.tolist())
    if labels is not None:
        outcomes.record_labels(start, p.tolist(), labels.tolist())


class TestPerformanceSignal:
    """The estimate while labels are missing, the realised figure once there are enough."""

    def test_estimate_without_labels(self) -> None:
        """With no labels the signal judges the estimated accuracy and says so."""
        outcomes = OutcomeWindows(scores="probability")
        _scored(outcomes, np.random.default_rng(1).uniform(0, 1, 500))
        signal = performance_signal(outcomes.snapshot("current", 0.0).performance, T)
        assert signal.verdict == "ok" and "estimated (uncalibrated" in signal.detail
        assert "0 labelled rows (need 50)" in signal.detail

    def test_realised_with_enough_labels(self) -> None:
        """With min_labelled_rows labels the realised accuracy is judged, named as realised."""
        rng = np.random.default_rng(2)
        p = rng.uniform(0, 1, 500)
        outcomes = OutcomeWindows(scores="probability")
        _scored(outcomes, p, (rng.random(500) < 0.5).astype(int))
        signal = performance_signal(outcomes.snapshot("current", 0.0).performance, T)
        assert signal.verdict == "critical" and "realised over 500 labelled rows" in signal.detail

    def test_regression_has_no_estimate(self) -> None:
        """A regression model without labels is unknown, and the detail says why."""
        outcomes = OutcomeWindows(task="regression")
        outcomes.record_prediction(0.0, [float(v) for v in range(100)])
        report = outcomes.snapshot("current", 0.0).performance
        signal = performance_signal(report, StatusThresholds(performance_floor=1.0))
        assert signal.verdict == "unknown" and "no label-free estimate" in signal.detail
        assert report.estimate_note is not None and report.estimated is None


class TestConfidenceSignal:
    """Rows under the one cut-off, judged against the reference's share when it has one."""

    def test_message_counts_what_the_setting_says(self) -> None:
        """'k of n under p=c' counts rows whose predicted-class probability is under c."""
        p = np.random.default_rng(3).uniform(0, 1, 1000)
        outcomes = OutcomeWindows(scores="probability", threshold=0.65, low_confidence=0.7)
        _scored(outcomes, p)
        signal = confidence_signal(outcomes.snapshot("current", 0.0).performance, T)
        confidence = np.where(p >= 0.65, p, 1 - p)
        assert signal.detail == f"{int((confidence < 0.7).sum())} of 1000 under p=0.7"

    def test_demo_shows_no_warning_before_its_shift(self) -> None:
        """30 pre-shift demo windows of 500 rows read ok against the demo's reference."""
        with tempfile.TemporaryDirectory() as directory:
            reference = load_reference(write_demo_files(Path(directory))[0])
        assert reference.outcomes is not None
        _, model = training_data()
        outcomes = OutcomeWindows(window_seconds=10.0)
        outcomes.set_reference(reference.outcomes)
        rng = np.random.default_rng(5)
        verdicts = set()
        for w in range(30):
            p = model.predict_proba(generate(rng, 500).columns)
            vectors = [tuple(row) for row in p.tolist()]
            outcomes.record_prediction(w * 10.0, p.argmax(axis=1).astype(str).tolist(), vectors)
            report = outcomes.snapshot("current", w * 10.0).performance
            verdicts.add(confidence_signal(report, StatusThresholds()).verdict)
        assert verdicts == {"ok"}
        assert "reference" in confidence_signal(report, StatusThresholds()).detail
