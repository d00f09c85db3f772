"""The calibrated label-free estimate against scikit-learn and a direct computation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
from sklearn.isotonic import IsotonicRegression

from sidecar.outcomes.calibration import OutcomeProfile, fit_calibration, isotonic_fit
from sidecar.outcomes.estimate import EstimateCounts, binned_auc, estimated_figures
from sidecar.outcomes.labels import apply_threshold, confidence
from sidecar.outcomes.windows import OutcomeWindows
from sidecar.reference.calibration import OutcomeCollector, fit_outcomes


def _binary(seed: int, n: int, squash: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True P(1), labels drawn from it, and the score a model reports (squashed, rounded)."""
    rng = np.random.default_rng(seed)
    p = 1.0 / (1.0 + np.exp(-rng.normal(0.3, 2.0, n)))
    y = (rng.random(n) < p).astype(np.int64)
    score = p if squash == 1.0 else np.round(0.5 + squash * (p - 0.5), 2)
    return p, y, score


class TestIsotonic:
    """Pool-adjacent-violators equals scikit-learn's IsotonicRegression."""

    @pytest.mark.parametrize(("n", "rounded"), [(7, False), (2_000, False), (20_000, True)])
    def test_map_equals_sklearn(self, n: int, rounded: bool) -> None:
        """Fitted knots and interpolated predictions equal IsotonicRegression(clip)'s."""
        _, y, score = _binary(n, n, 0.5 if rounded else 1.0)
        ours = isotonic_fit(score, y)
        theirs = IsotonicRegression(out_of_bounds="clip").fit(score, y)
        assert np.allclose(ours.x, theirs.X_thresholds_)
        assert np.allclose(ours.y, theirs.y_thresholds_, atol=1e-12)
        grid = np.linspace(-0.2, 1.2, 2_001)
        assert np.allclose(ours.apply(grid), theirs.predict(grid), atol=1e-12)

    def test_calibrated_curve_is_diagonal(self) -> None:
        """After calibration, sklearn's calibration_curve on fresh rows lies on the diagonal."""
        _, y, score = _binary(1, 50_000, 0.4)
        calibration = fit_calibration(np.column_stack((1 - score, score)), y)
        _, y2, score2 = _binary(2, 50_000, 0.4)
        raw_true, raw_pred = calibration_curve(y2, score2, n_bins=10, strategy="quantile")
        c = calibration.calibrate(np.column_stack((1 - score2, score2)))[:, 1]
        true, pred = calibration_curve(y2, c, n_bins=10, strategy="quantile")
        assert np.abs(true - pred).max() < 0.03
        assert np.abs(raw_true - raw_pred).max() > 0.2

    def test_multiclass_vectors_sum_to_one(self) -> None:
        """One-vs-rest maps of a 3-class model give vectors that sum to 1."""
        rng = np.random.default_rng(3)
        vectors = rng.dirichlet(np.ones(3), 3_000)
        truth = np.array([rng.choice(3, p=v) for v in vectors])
        calibrated = fit_calibration(vectors, truth).calibrate(vectors)
        assert np.allclose(calibrated.sum(axis=1), 1.0)


class TestExpectedConfusion:
    """The expected confusion matrix and its figures, computed directly."""

    def test_matrix_and_figures_equal_a_direct_computation(self) -> None:
        """E[t, k] sums c_t over rows predicted k; accuracy, P/R/F1 and AUC follow from it."""
        rng = np.random.default_rng(4)
        c = rng.dirichlet(np.ones(3), 1_000)
        predicted = rng.integers(0, 3, 1_000)
        counts = EstimateCounts()
        counts.update(c, predicted)
        direct = np.zeros((3, 3))
        for row, k in zip(c, predicted, strict=True):
            direct[:, k] += row
        assert np.allclose(counts.expected, direct)
        figures = estimated_figures(counts, ["0", "1", "2"])
        assert figures["accuracy"].value == pytest.approx(c[np.arange(1000), predicted].mean())
        precision = np.diag(direct) / direct.sum(axis=0)
        recall = np.diag(direct) / direct.sum(axis=1)
        f1 = 2 * precision * recall / (precision + recall)
        assert figures["precision_macro"].value == pytest.approx(precision.mean())
        assert figures["recall_macro"].value == pytest.approx(recall.mean())
        assert figures["f1_macro"].value == pytest.approx(f1.mean())

    def test_expected_auc_equals_weighted_pair_count(self) -> None:
        """Expected AUC is the c1-weighted concordant pair share over distinct score bins."""
        rng = np.random.default_rng(5)
        score = np.round(rng.uniform(0, 1, 400), 2)
        c1 = np.clip(score + rng.normal(0, 0.05, 400), 0, 1)
        counts = EstimateCounts()
        counts.update_auc(score, c1)
        greater = (score[:, None] > score[None, :]) + 0.5 * (score[:, None] == score[None, :])
        direct = (c1[:, None] * (1 - c1[None, :]) * greater).sum() / (c1.sum() * (1 - c1).sum())
        assert binned_auc(counts.auc_positive, counts.auc_negative) == pytest.approx(direct)

    def test_realised_accuracy_inside_band_in_95_percent_of_windows(self) -> None:
        """With perfectly calibrated probabilities the realised accuracy is in the band >= 95%."""
        rng = np.random.default_rng(6)
        inside = 0
        for _ in range(1_000):
            p = 1.0 / (1.0 + np.exp(-rng.normal(0.5, 1.5, 500)))
            y = rng.random(500) < p
            predicted = (p >= 0.5).astype(np.intp)
            counts = EstimateCounts()
            counts.update(np.column_stack((1 - p, p)), predicted)
            band = estimated_figures(counts, ["0", "1"])["accuracy"]
            inside += band.low <= float((predicted == y).mean()) <= band.high
        assert inside >= 950


class TestWindowsEstimate:
    """OutcomeWindows: estimate, realised figures and error side by side, as sklearn says."""

    def test_estimate_beside_sklearn_realised(self) -> None:
        """Realised figures equal sklearn's; the calibrated estimate is within its band."""
        _, y_ref, s_ref = _binary(7, 20_000, 0.5)
        reference = fit_outcomes(np.column_stack((1 - s_ref, s_ref)), y_ref, 0.65)
        _, y, s = _binary(8, 5_000, 0.5)
        outcomes = OutcomeWindows(threshold=0.65)
        outcomes.set_reference(reference)
        start = outcomes.record_prediction(0.0, s.tolist())
        outcomes.record_labels(start, s.tolist(), y.tolist())
        perf = outcomes.snapshot("current", 0.0).performance
        predicted = (s >= 0.65).astype(int)
        assert perf.accuracy == pytest.approx(skm.accuracy_score(y, predicted))
        assert perf.f1 == pytest.approx(skm.f1_score(y, predicted))
        assert perf.roc_auc == pytest.approx(skm.roc_auc_score(y, s))
        assert perf.log_loss == pytest.approx(skm.log_loss(y, s))
        assert perf.brier == pytest.approx(skm.brier_score_loss(y, s))
        assert perf.estimated is not None and perf.estimation_error is not None
        for name in ("accuracy", "f1", "roc_auc"):
            band = perf.estimated[name]
            assert band["low"] <= getattr(perf, name) <= band["high"]
            assert perf.estimation_error[name] == pytest.approx(band["value"] - getattr(perf, name))

    def test_zero_and_one_scores_are_probabilities(self) -> None:
        """With a reference, scores of exactly 0.0 and 1.0 count in the estimate and log loss."""
        s = np.array([0.0, 1.0, 0.3, 0.9] * 25)
        y = np.array([0, 1, 1, 1] * 25)
        outcomes = OutcomeWindows(scores="probability")
        start = outcomes.record_prediction(0.0, s.tolist())
        outcomes.record_labels(start, s.tolist(), y.tolist())
        perf = outcomes.snapshot("current", 0.0).performance
        assert perf.estimated_rows == 100 and perf.probability_rows == 100
        assert perf.log_loss == pytest.approx(skm.log_loss(y, np.clip(s, 1e-15, 1 - 1e-15)))

    def test_confidence_follows_the_threshold(self) -> None:
        """A score in [0.5, threshold) predicts class 0, whose probability is its confidence."""
        assert apply_threshold(0.6, None, 0.65)[0] == "0"
        assert confidence("0", (0.4, 0.6), 0.65) == pytest.approx(0.4)
        assert apply_threshold(None, (0.4, 0.6), 0.65)[0] == "0"
        assert confidence("1", (0.3, 0.7), 0.65) == pytest.approx(0.7)


class TestOutcomeProfile:
    """The profile's outcome section: collected, fitted, written and read back."""

    def test_round_trip_and_reference_share(self) -> None:
        """to_dict/from_dict keep the maps; the low-confidence share reads from the scores."""
        _, y, s = _binary(9, 10_000, 0.5)
        collector = OutcomeCollector("label", ["score"])
        collector.add({"label": y.astype(float).tolist(), "score": s.tolist()})
        profile = collector.fit(0.5)
        again = OutcomeProfile.from_dict(json.loads(json.dumps(profile.to_dict())))
        assert again == profile
        assert profile.metrics["accuracy"] == pytest.approx(skm.accuracy_score(y, s >= 0.5))
        share = profile.low_confidence_share(0.6, 0.5)
        assert share == pytest.approx((np.maximum(s, 1 - s) < 0.6).mean(), abs=0.01)

    def test_labels_must_be_class_indices(self) -> None:
        """A label that is not a class index is an error naming the column and the value."""
        collector = OutcomeCollector("label", ["score"])
        with pytest.raises(ValueError, match="'label': label 'yes'"):
            collector.add({"label": ["yes"], "score": [0.3]})


class TestSavedState:
    """Window state saved before the estimate existed still loads."""

    def test_state_without_estimate_or_auc_loads(self) -> None:
        """A saved window lacking 'estimate' and 'auc' loads with empty estimate counts."""
        outcomes = OutcomeWindows(scores="probability")
        start = outcomes.record_prediction(0.0, [0.2, 0.8] * 20)
        outcomes.record_labels(start, [0.2, 0.8] * 20, [0, 1] * 20)
        data = json.loads(json.dumps(outcomes.to_dict()))
        for _, performance, _ in data["windows"] + data["buckets"]:
            del performance["estimate"]
            del performance["classification"]["auc"]
        restored = OutcomeWindows(scores="probability")
        restored.load_dict(data)
        perf = restored.snapshot("current", 0.0).performance
        assert perf.accuracy == 1.0 and perf.estimated is None and perf.roc_auc is None


class TestMulticlassEstimate:
    """A calibrated three-class model: macro figures estimated within their bands."""

    def test_macro_figures_within_band(self) -> None:
        """One-vs-rest maps fitted on a reference estimate a fresh window's macro P/R/F1."""
        rng = np.random.default_rng(11)

        def rows(n: int) -> tuple[np.ndarray, np.ndarray]:
            truth = rng.dirichlet(np.ones(3) * 0.5, n)
            labels = np.array([rng.choice(3, p=v) for v in truth])
            reported = truth**2 / (truth**2).sum(axis=1, keepdims=True)  # overconfident
            return reported, labels

        reference = fit_outcomes(*rows(30_000))
        vectors, labels = rows(5_000)
        outcomes = OutcomeWindows()
        outcomes.set_reference(reference)
        predicted = vectors.argmax(axis=1).astype(str).tolist()
        as_tuples = [tuple(v) for v in vectors.tolist()]
        start = outcomes.record_prediction(0.0, predicted, as_tuples)
        outcomes.record_labels(start, predicted, labels.astype(str).tolist(), as_tuples)
        perf = outcomes.snapshot("current", 0.0).performance
        assert perf.calibrated and perf.estimated is not None
        for name in ("accuracy", "precision_macro", "recall_macro", "f1_macro"):
            band = perf.estimated[name]
            assert band["low"] <= getattr(perf, name) <= band["high"], name
