"""Performance figures against scikit-learn on the same seeded rows."""

from __future__ import annotations

import math

import numpy as np
import pytest
from datasets import assert_close
from sklearn import metrics as skm

from sidecar.outcomes.counts import ClassificationCounts, RegressionSums
from sidecar.outcomes.labels import (
    CLASSIFICATION,
    OTHER,
    REGRESSION,
    apply_threshold,
    class_key,
    infer_task,
)
from sidecar.outcomes.performance import PerformanceState, performance_report


def _multiclass(seed: int, n: int, k: int) -> tuple[list[str], list[str], np.ndarray]:
    """Labels, mostly-right predictions and probability vectors over k classes."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    probs = rng.dirichlet(np.ones(k), n)
    probs[np.arange(n), y] += rng.uniform(0, 1.5, n)
    probs /= probs.sum(axis=1, keepdims=True)
    pred = probs.argmax(axis=1)
    return [str(v) for v in y], [str(v) for v in pred], probs


def _state(true: list[str], pred: list[str], probs: np.ndarray | None) -> PerformanceState:
    state = PerformanceState.empty()
    state.classification.update(true, pred)
    if probs is not None:
        vectors = [tuple(row) for row in probs.tolist()]
        state.classification.update_scores([int(t) for t in true], vectors)
        state.confidence.update(probs.max(axis=1).tolist())
        state.estimate.update(probs, probs.argmax(axis=1))
    return state


class TestClassificationOracle:
    """Classification figures equal scikit-learn's."""

    @pytest.mark.parametrize(("k", "seed"), [(2, 1), (4, 2), (7, 3)])
    def test_figures_match_sklearn(self, k: int, seed: int) -> None:
        """Accuracy, per-class and averaged P/R/F1, log loss and Brier match scikit-learn."""
        true, pred, probs = _multiclass(seed, 1500, k)
        report = performance_report(_state(true, pred, probs), CLASSIFICATION)
        assert report.accuracy == pytest.approx(skm.accuracy_score(true, pred))
        labels = sorted(set(true) | set(pred))
        p, r, f, s = skm.precision_recall_fscore_support(true, pred, labels=labels, zero_division=0)
        assert report.per_class is not None
        for i, label in enumerate(labels):
            got = report.per_class[label]
            assert (got["precision"], got["recall"], got["f1"]) == pytest.approx((p[i], r[i], f[i]))
            assert got["support"] == s[i]
        for avg in ("macro", "weighted"):
            p, r, f, _ = skm.precision_recall_fscore_support(
                true, pred, average=avg, zero_division=0
            )
            assert getattr(report, f"precision_{avg}") == pytest.approx(p)
            assert getattr(report, f"recall_{avg}") == pytest.approx(r)
            assert getattr(report, f"f1_{avg}") == pytest.approx(f)
        assert report.f1_macro == pytest.approx(skm.f1_score(true, pred, average="macro"))
        int_labels = list(range(k))
        y = [int(t) for t in true]
        assert report.log_loss == pytest.approx(skm.log_loss(y, probs, labels=int_labels))
        expected_brier = (
            skm.brier_score_loss(y, probs[:, 1])
            if k == 2
            else skm.brier_score_loss(y, probs, labels=int_labels)
        )
        assert report.brier == pytest.approx(expected_brier)

    def test_confusion_matrix_matches_sklearn(self) -> None:
        """Confusion-matrix counts equal scikit-learn's for the same label order."""
        true, pred, _ = _multiclass(4, 800, 5)
        report = performance_report(_state(true, pred, None), CLASSIFICATION)
        assert report.confusion_labels is not None
        expected = skm.confusion_matrix(true, pred, labels=report.confusion_labels)
        assert report.confusion_matrix == expected.tolist()
        assert report.labelled_rows == 800

    def test_missing_class_in_window(self) -> None:
        """A class seen only in another window is left out, as scikit-learn leaves it out."""
        true, pred, probs = _multiclass(5, 600, 4)
        keep = [i for i, (t, p) in enumerate(zip(true, pred, strict=True)) if "3" not in (t, p)]
        other_window = _state(true, pred, probs)
        window = PerformanceState.empty()
        window.classification.update(["3"], ["3"])  # class 3 known to the state ...
        window.classification.matrix[:] = 0  # ... but with no rows in this window
        t = [true[i] for i in keep]
        p = [pred[i] for i in keep]
        window.classification.update(t, p)
        report = performance_report(window, CLASSIFICATION)
        assert report.confusion_labels is not None and "3" not in report.confusion_labels
        assert report.f1_macro == pytest.approx(
            skm.f1_score(t, p, average="macro", zero_division=0)
        )
        assert performance_report(other_window, CLASSIFICATION).labelled_rows == 600

    def test_predicted_only_class_counts_in_macro(self) -> None:
        """A class that is predicted but never true enters the macro average with recall 0."""
        true = ["a"] * 20 + ["b"] * 20
        pred = ["a"] * 15 + ["c"] * 5 + ["b"] * 20
        report = performance_report(_state(true, pred, None), CLASSIFICATION)
        expected = skm.precision_recall_fscore_support(true, pred, average="macro", zero_division=0)
        assert (report.precision_macro, report.recall_macro, report.f1_macro) == pytest.approx(
            expected[:3]
        )

    def test_merge_of_split_states_equals_whole(self) -> None:
        """Merging two halves gives the same report as one state over all rows."""
        true, pred, probs = _multiclass(6, 1000, 3)
        whole = _state(true, pred, probs)
        left = _state(true[:400], pred[:400], probs[:400])
        right = _state(true[400:], pred[400:], probs[400:])
        restored = PerformanceState.from_dict(right.to_dict())
        left.merge(restored)
        got = performance_report(left, CLASSIFICATION).to_json()
        expected = performance_report(whole, CLASSIFICATION).to_json()
        assert_close(got, expected)

    def test_below_min_count_reports_nothing(self) -> None:
        """Fewer labelled rows than min_count leaves every figure null."""
        true, pred, probs = _multiclass(7, 29, 3)
        report = performance_report(_state(true, pred, probs), CLASSIFICATION, min_count=30)
        assert report.labelled_rows == 29
        assert report.accuracy is None and report.log_loss is None and report.per_class is None
        assert report.estimated_accuracy is None

    def test_class_set_is_bounded(self) -> None:
        """Classes beyond max_classes fold into 'other'."""
        counts = ClassificationCounts.empty(max_classes=4)
        labels = [str(i) for i in range(10)]
        counts.update(labels, labels)
        assert counts.classes == ["0", "1", "2", "3", OTHER]
        assert int(counts.matrix.sum()) == 10
        assert int(counts.matrix[4, 4]) == 6


class TestLabelFree:
    """The CBPE-style estimate and the low-confidence share."""

    def test_uncalibrated_estimate_is_mean_max_probability(self) -> None:
        """Without calibration the estimate is the mean max probability; low share under 0.6."""
        true, pred, probs = _multiclass(8, 500, 3)
        report = performance_report(_state(true, pred, probs), CLASSIFICATION)
        top = probs.max(axis=1)
        assert report.estimated_accuracy == pytest.approx(top.mean())
        assert report.mean_confidence == pytest.approx(top.mean())
        assert report.low_confidence_share == pytest.approx((top < 0.6).mean())
        assert report.accuracy == pytest.approx(skm.accuracy_score(true, pred))


class TestRegressionOracle:
    """Regression figures equal scikit-learn's."""

    def _data(self, seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        y = rng.normal(50, 20, n).round(1)
        y[rng.choice(n, 25, replace=False)] = 0.0
        return y, y + rng.normal(0, 5, n)

    def test_figures_match_sklearn(self) -> None:
        """MAE, RMSE, R^2 and MAPE over non-zero labels match scikit-learn."""
        y, p = self._data(9, 2000)
        sums = RegressionSums()
        sums.update(y.tolist(), p.tolist())
        state = PerformanceState.empty()
        state.regression = sums
        report = performance_report(state, REGRESSION)
        nz = y != 0
        assert report.mae == pytest.approx(skm.mean_absolute_error(y, p))
        assert report.rmse == pytest.approx(skm.root_mean_squared_error(y, p))
        assert report.r2 == pytest.approx(skm.r2_score(y, p))
        assert report.mape == pytest.approx(skm.mean_absolute_percentage_error(y[nz], p[nz]))
        assert (report.zero_label_rows, report.mape_rows) == (25, 1975)

    def test_merge_of_split_states_equals_whole(self) -> None:
        """Chan's merge of label moments gives the whole-data R^2."""
        y, p = self._data(10, 3000)
        whole, merged = RegressionSums(), RegressionSums()
        whole.update(y.tolist(), p.tolist())
        for lo, hi in ((0, 7), (7, 1200), (1200, 3000)):
            part = RegressionSums()
            part.update(y[lo:hi].tolist(), p[lo:hi].tolist())
            merged.merge(RegressionSums.from_dict(part.to_dict()))
        assert merged.rows == whole.rows
        assert merged.label_m2 == pytest.approx(whole.label_m2)
        assert merged.sq_error_sum == pytest.approx(whole.sq_error_sum)

    def test_constant_labels_follow_force_finite(self) -> None:
        """A constant label gives R^2 of 1 when fitted exactly and 0 otherwise, as sklearn does."""
        exact, off = RegressionSums(), RegressionSums()
        exact.update([3.0] * 40, [3.0] * 40)
        off.update([3.0] * 40, [4.0] * 40)
        for sums, y_pred in ((exact, [3.0] * 40), (off, [4.0] * 40)):
            state = PerformanceState.empty()
            state.regression = sums
            got = performance_report(state, REGRESSION).r2
            assert got == skm.r2_score([3.0] * 40, y_pred)


class TestLabelsAndTasks:
    """Class labels, the threshold rule and task inference."""

    def test_class_key_unifies_numbers_and_strings(self) -> None:
        """1, 1.0 and '1' are one class; NaN and None are no class."""
        assert class_key(1.0) == class_key("1") == "1"
        assert class_key(float("nan")) is None and class_key(None) is None
        assert class_key(0.25) == "0.25"

    def test_threshold_rule(self) -> None:
        """A score becomes class 1 at >= threshold and gains the vector (1 - s, s)."""
        assert apply_threshold(0.5, None, 0.5) == ("1", (0.5, 0.5))
        label, vector = apply_threshold(0.3, None, 0.5)
        assert label == "0" and vector == pytest.approx((0.7, 0.3))
        assert apply_threshold(0.3, (0.2, 0.8), 0.25) == ("1", (0.2, 0.8))
        assert apply_threshold("cat", 0.9, 0.5) == ("cat", 0.9)

    def test_infer_task(self) -> None:
        """Strings and few integral numbers mean classification; other numbers regression."""
        assert infer_task(["a", "b"]) == CLASSIFICATION
        assert infer_task([0.0, 1.0, 1.0, None]) == CLASSIFICATION
        assert infer_task([float(i) for i in range(100)]) == REGRESSION
        assert infer_task([0.25, 1.0]) == REGRESSION

    def test_unknown_task_is_rejected(self) -> None:
        """An unknown task name raises ValueError naming it."""
        with pytest.raises(ValueError, match="'ranking'"):
            performance_report(PerformanceState.empty(), "ranking")

    def test_report_serialises(self) -> None:
        """to_json gives plain types with nulls for missing figures."""
        data = performance_report(PerformanceState.empty(), CLASSIFICATION).to_json()
        assert data["accuracy"] is None and data["labelled_rows"] == 0
        assert not any(isinstance(v, float) and math.isnan(v) for v in data.values())
