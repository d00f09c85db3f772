"""OutcomeWindows end to end: predictions stored, labels joined later, figures per window."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from datasets import assert_close
from fairlearn.metrics import demographic_parity_difference
from sklearn import metrics as skm

from sidecar.outcomes.feedback import FeedbackResult, apply_feedback, parse_feedback
from sidecar.outcomes.predictions import PredictionStore
from sidecar.outcomes.windows import OutcomeWindows

WINDOW = 300.0


def _serve(
    outcomes: OutcomeWindows, store: PredictionStore, n: int, seed: int, t0: float
) -> dict[str, tuple[float, int, int, str]]:
    """Record n scored requests; returns id -> (score, label, window index, group)."""
    rng = np.random.default_rng(seed)
    truth: dict[str, tuple[float, int, int, str]] = {}
    for i in range(n):
        now = t0 + i * (2 * WINDOW / n)
        group = "ab"[int(rng.integers(0, 2))]
        label = int(rng.integers(0, 2))
        score = float(np.clip(rng.normal(0.35 + 0.3 * label, 0.2), 0.01, 0.99))
        start = outcomes.record_prediction(now, [score], None, [(group,)])
        store.put(f"req-{i}", start, [score], None, [(group,)], now)
        truth[f"req-{i}"] = (score, label, int(start // WINDOW), group)
    return truth


class TestDelayedLabels:
    """Labels arriving later are scored in the window of their prediction."""

    def test_window_figures_match_sklearn_and_fairlearn(self) -> None:
        """After shuffled, duplicated feedback, each window's figures equal the oracles'."""
        outcomes = OutcomeWindows(task="classification", attributes=["group"], favourable=1)
        store = PredictionStore()
        truth = _serve(outcomes, store, 600, seed=1, t0=3000.0)
        items = [{"request_id": rid, "label": lab} for rid, (_, lab, _, _) in truth.items()]
        items += [*items[:50], {"request_id": "ghost", "label": 1}]
        random.Random(2).shuffle(items)
        total = FeedbackResult()
        for lo in range(0, len(items), 97):
            parsed = parse_feedback(items[lo : lo + 97])
            result, matched = apply_feedback(store, parsed.items, 9000.0, parsed.invalid)
            for outcome in matched:
                outcomes.record_join(outcome)
            total = total + result
        assert total == FeedbackResult(matched=600, unknown=1, duplicate=50, invalid=0)
        for w in {v[2] for v in truth.values()}:
            rows = [v for v in truth.values() if v[2] == w]
            y = [lab for _, lab, _, _ in rows]
            pred = [int(s >= 0.5) for s, _, _, _ in rows]
            scores = np.array([s for s, _, _, _ in rows])
            snap = outcomes.snapshot(w * WINDOW, now=9000.0)
            perf = snap.performance
            assert perf.labelled_rows == len(rows)
            assert perf.accuracy == pytest.approx(skm.accuracy_score(y, pred))
            assert perf.f1_macro == pytest.approx(skm.f1_score(y, pred, average="macro"))
            assert perf.log_loss == pytest.approx(skm.log_loss(y, scores))
            assert perf.brier == pytest.approx(skm.brier_score_loss(y, scores))
            assert perf.estimated_accuracy == pytest.approx(np.maximum(scores, 1 - scores).mean())
            assert snap.fairness is not None
            gap = snap.fairness.attributes[0].demographic_parity_difference
            groups = [g for _, _, _, g in rows]
            assert gap == pytest.approx(
                demographic_parity_difference(y, pred, sensitive_features=groups)
            )

    def test_batched_joins_equal_one_by_one(self) -> None:
        """record_joins over many outcomes gives the same state as record_join per outcome."""
        kwargs = {"task": "classification", "attributes": ["group"]}
        one, many = OutcomeWindows(**kwargs), OutcomeWindows(**kwargs)  # type: ignore[arg-type]
        store_one, store_many = PredictionStore(), PredictionStore()
        truth = _serve(one, store_one, 300, seed=5, t0=0.0)
        _serve(many, store_many, 300, seed=5, t0=0.0)
        joins = [store_many.join(rid, [lab], 700.0) for rid, (_, lab, _, _) in truth.items()]
        assert many.record_joins(joins) == 300
        for rid, (_, lab, _, _) in truth.items():
            one.record_join(store_one.join(rid, [lab], 700.0))
        for window in (0.0, WINDOW):
            got = many.snapshot(window, now=700.0).to_json()
            want = one.snapshot(window, now=700.0).to_json()
            for key in ("log_loss", "brier"):
                assert got["performance"].pop(key) == pytest.approx(want["performance"].pop(key))
            assert got["performance"]["per_class"] == want["performance"]["per_class"]
            assert got["fairness"] == want["fairness"]

    def test_rolling_covers_both_windows(self) -> None:
        """The rolling snapshot merges the windows it spans; the current one is the last
        window_seconds at bucket resolution, here [330, 650)."""
        outcomes = OutcomeWindows(task="classification", rolling_windows=4)
        store = PredictionStore()
        truth = _serve(outcomes, store, 200, seed=3, t0=0.0)
        for rid, (_, lab, _, _) in truth.items():
            outcomes.record_join(store.join(rid, [lab], 700.0))
        rolling = outcomes.snapshot("rolling", now=650.0)
        assert rolling.windows == 2 and rolling.performance.labelled_rows == 200
        current = outcomes.snapshot("current", now=650.0)
        assert (current.window_start, current.window_end) == (330.0, 650.0)
        assert current.performance.labelled_rows == sum(1 for i in range(200) if 3 * i >= 330)

    def test_current_view_does_not_empty_at_a_window_boundary(self) -> None:
        """Steady traffic with labels 4 s late: just after a boundary the current view still
        holds the labelled rows of the last window (a tumbling one would hold none)."""
        outcomes = OutcomeWindows(window_seconds=6.0, task="classification")
        store = PredictionStore()
        for step in range(724):  # 60 requests/s up to 12.05 s
            now = step / 60
            start = outcomes.record_prediction(now, ["1"])
            store.put(f"r{step}", start, ["1"], None, None, now)
            if now >= 4.0:
                outcomes.record_join(store.join(f"r{step - 240}", ["1"], now))
        after_boundary = outcomes.snapshot("current", now=12.05)
        # Predictions made from 6.0 s to 8.05 s have their labels by 12.05 s: 124 rows.
        assert after_boundary.performance.labelled_rows == 124
        assert after_boundary.windows == 2

    def test_a_window_start_names_its_own_window_when_the_bucket_is_inexact(self) -> None:
        """With 11 s windows in 4 buckets of 2.75 s, start / 2.75 can floor one bucket short;
        a snapshot asked for by its start still reports that window, and a record at the
        start lands in it."""
        outcomes = OutcomeWindows(window_seconds=11.0, task="classification")
        start = 160010196 * 11.0
        assert outcomes.window_start(start) == start
        for at in (start, start + 5.0):
            key = outcomes.record_prediction(at, ["1"])
            outcomes.record_labels(key, ["1"], ["1"])
        window = outcomes.snapshot(start, now=start + 6.0)
        assert window.window_start == start
        assert window.performance.labelled_rows == 2

    def test_a_window_start_names_its_own_window_when_the_division_is_inexact(self) -> None:
        """100000010 * 13.37 / 13.37 falls just short of 100000010: the start still names its
        own window, and a second earlier is the window before."""
        outcomes = OutcomeWindows(window_seconds=13.37, task="classification")
        start = 100000010 * 13.37
        assert outcomes.window_start(start) == start
        assert outcomes.window_start(start - 1.0) == 100000009 * 13.37
        key = outcomes.record_prediction(start, ["1"])
        outcomes.record_labels(key, ["1"], ["1"])
        window = outcomes.snapshot(start, now=start + 1.0)
        assert (window.window_start, window.performance.labelled_rows) == (start, 1)

    def test_labels_for_dropped_windows_are_counted_late(self) -> None:
        """Labels for a window older than max_windows are dropped and counted."""
        outcomes = OutcomeWindows(task="classification", max_windows=2, rolling_windows=1)
        start = outcomes.record_prediction(0.0, ["1"])
        outcomes.record_prediction(10 * WINDOW, ["1"])
        assert not outcomes.record_labels(start, ["1"], ["1"])
        assert outcomes.late_labels == 1

    def test_labels_keyed_after_the_newest_bucket_are_refused(self) -> None:
        """A key later than any prediction (only a corrupt store makes one) is counted as
        lost and keeps no state: it can neither grow the buckets nor push retention on."""
        outcomes = OutcomeWindows(task="classification")
        start = outcomes.record_prediction(100.0, ["1"])
        assert not outcomes.record_labels(1e12, ["1"], ["1"])
        assert outcomes.late_labels == 1
        assert outcomes.record_labels(start, ["1"], ["1"])
        assert outcomes.snapshot("current", now=101.0).performance.labelled_rows == 1

    def test_regression_inferred_from_predictions(self) -> None:
        """Numeric predictions with many values make the task regression."""
        outcomes = OutcomeWindows(min_count=5)
        y = [float(i) + 1.0 for i in range(40)]
        pred = [v + 0.5 for v in y]
        start = outcomes.record_prediction(0.0, pred)
        outcomes.record_labels(start, pred, y)
        report = outcomes.snapshot("current", now=1.0).performance
        assert report.task == "regression"
        assert report.mae == pytest.approx(0.5) and report.r2 == pytest.approx(
            skm.r2_score(y, pred)
        )

    def test_string_classes_use_class_names_for_probabilities(self) -> None:
        """With class_names, a probability vector's positions name the classes."""
        outcomes = OutcomeWindows(class_names=["cat", "dog"], min_count=1)
        start = outcomes.record_prediction(0.0, ["cat", "dog"], [(0.8, 0.2), (0.3, 0.7)])
        outcomes.record_labels(start, ["cat", "dog"], ["cat", "cat"], [(0.8, 0.2), (0.3, 0.7)])
        report = outcomes.snapshot("current", now=0.0).performance
        assert report.log_loss == pytest.approx(
            skm.log_loss([0, 0], [[0.8, 0.2], [0.3, 0.7]], labels=[0, 1])
        )


class TestMergeAndPersistence:
    """Replicas merge; state survives serialisation."""

    def test_replica_merge_equals_single_process(self) -> None:
        """Two replicas' windows merged equal one process that saw every request."""
        kwargs = {"task": "classification", "attributes": ["group"]}
        single, left, right = (OutcomeWindows(**kwargs) for _ in range(3))  # type: ignore[arg-type]
        rng = np.random.default_rng(4)
        for i in range(300):  # over 1,200 s: folded windows, kept buckets and both views
            now, group = 4.0 * i, ("a" if i % 3 else "b")
            score, label = float(rng.uniform(0.01, 0.99)), int(rng.integers(0, 2))
            for target in (single, left if i % 2 else right):
                start = target.record_prediction(now, [score], None, [(group,)])
                target.record_labels(start, [score], [label], None, [(group,)])
        left.merge(right)
        restored = OutcomeWindows(**kwargs)  # type: ignore[arg-type]
        restored.load_dict(json.loads(json.dumps(left.to_dict())))
        for view in ("rolling", "current", "previous", 300.0):
            got = restored.snapshot(view, 1199.0).to_json()
            want = single.snapshot(view, 1199.0).to_json()
            assert_close(got, want)

    def test_bad_window_name(self) -> None:
        """An unknown window name raises ValueError naming it."""
        with pytest.raises(ValueError, match="'yesterday'"):
            OutcomeWindows().snapshot("yesterday", now=0.0)
