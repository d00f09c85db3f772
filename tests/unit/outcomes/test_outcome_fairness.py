"""Fairness figures against fairlearn on the same seeded rows."""

from __future__ import annotations

import numpy as np
import pytest
from fairlearn import metrics as flm
from sklearn.metrics import accuracy_score

from sidecar.outcomes.fairness import FairnessState, fairness_report
from sidecar.outcomes.labels import OTHER


def _rows(seed: int, sizes: dict[str, int]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Groups, labels and predictions with a different selection rate per group."""
    rng = np.random.default_rng(seed)
    groups = [g for g, n in sizes.items() for _ in range(n)]
    bias = {g: i * 0.1 for i, g in enumerate(sizes)}
    y = rng.integers(0, 2, len(groups))
    flip = rng.random(len(groups)) < np.array([0.15 + bias[g] for g in groups])
    pred = np.where(flip, 1 - y, y)
    return groups, y, pred


def _state(groups: list[str], y: np.ndarray, pred: np.ndarray, **kwargs: int) -> FairnessState:
    state = FairnessState(["group"], "1", **kwargs)
    tuples = [(g,) for g in groups]
    state.update_predictions(tuples, [str(v) for v in pred])
    state.update_labels(tuples, [str(v) for v in pred], [str(v) for v in y])
    return state


class TestFairlearnOracle:
    """Aggregates and per-group rates equal fairlearn's."""

    def test_aggregates_match_fairlearn(self) -> None:
        """Demographic parity, equal opportunity and equalized odds match fairlearn."""
        groups, y, pred = _rows(1, {"a": 400, "b": 300, "c": 250})
        report = fairness_report(_state(groups, y, pred), "1").attributes[0]
        kw = {"sensitive_features": groups}
        assert report.demographic_parity_difference == pytest.approx(
            flm.demographic_parity_difference(y, pred, **kw)
        )
        assert report.demographic_parity_ratio == pytest.approx(
            flm.demographic_parity_ratio(y, pred, **kw)
        )
        assert report.equal_opportunity_difference == pytest.approx(
            flm.equal_opportunity_difference(y, pred, **kw)
        )
        assert report.equalized_odds_difference == pytest.approx(
            flm.equalized_odds_difference(y, pred, **kw)
        )

    def test_group_rates_match_metric_frame(self) -> None:
        """Per-group selection rate, TPR, FPR and accuracy equal MetricFrame.by_group."""
        groups, y, pred = _rows(2, {"x": 200, "y": 150})
        frame = flm.MetricFrame(
            metrics={
                "selection_rate": flm.selection_rate,
                "tpr": flm.true_positive_rate,
                "fpr": flm.false_positive_rate,
                "accuracy": accuracy_score,
            },
            y_true=y,
            y_pred=pred,
            sensitive_features=groups,
        )
        report = fairness_report(_state(groups, y, pred)).attributes[0]
        for figures in report.groups:
            expected = frame.by_group.loc[figures.group]
            got = (figures.selection_rate, figures.tpr, figures.fpr, figures.accuracy)
            assert got == pytest.approx(tuple(expected))
        assert [f.group for f in report.groups] == ["x", "y"]

    def test_small_groups_are_left_out(self) -> None:
        """A group under min_group_size has null rates and the gaps ignore it."""
        groups, y, pred = _rows(3, {"a": 300, "b": 200, "tiny": 10})
        report = fairness_report(_state(groups, y, pred), min_group_size=30).attributes[0]
        tiny = next(f for f in report.groups if f.group == "tiny")
        assert (tiny.rows, tiny.selection_rate, tiny.tpr) == (10, None, None)
        keep = [i for i, g in enumerate(groups) if g != "tiny"]
        kept = [groups[i] for i in keep]
        assert report.equalized_odds_difference == pytest.approx(
            flm.equalized_odds_difference(y[keep], pred[keep], sensitive_features=kept)
        )

    def test_one_group_reports_no_gap(self) -> None:
        """With a single qualifying group every gap is null."""
        groups, y, pred = _rows(4, {"only": 100})
        report = fairness_report(_state(groups, y, pred)).attributes[0]
        assert report.demographic_parity_difference is None
        assert report.equalized_odds_difference is None


class TestBoundsAndMerge:
    """Group bounds, merging and serialisation."""

    def test_groups_beyond_the_bound_fold_into_other(self) -> None:
        """Only the largest max_groups groups are shown; the rest is 'other', not aggregated."""
        sizes = {f"g{i:02d}": 40 + i for i in range(8)}
        groups, y, pred = _rows(5, sizes)
        report = fairness_report(_state(groups, y, pred, max_groups=3)).attributes[0]
        assert [f.group for f in report.groups] == ["g07", "g06", "g05", OTHER]
        assert report.groups[-1].rows == sum(40 + i for i in range(5))
        shown = [i for i, g in enumerate(groups) if g in ("g05", "g06", "g07")]
        assert report.demographic_parity_difference == pytest.approx(
            flm.demographic_parity_difference(
                y[shown], pred[shown], sensitive_features=[groups[i] for i in shown]
            )
        )

    def test_tracked_groups_are_bounded(self) -> None:
        """At most 4 x max_groups group values are tracked; later ones count as 'other'."""
        state = FairnessState(["g"], "1", max_groups=2)
        state.update_predictions([(str(i),) for i in range(20)], ["1"] * 20)
        assert len(state.groups["g"]) == 9
        assert int(state.groups["g"][OTHER][0]) == 12

    def test_merge_of_split_states_equals_whole(self) -> None:
        """Merging two replicas' states gives the report of one state over all rows."""
        groups, y, pred = _rows(6, {"a": 300, "b": 300})
        whole = _state(groups, y, pred)
        left = _state(groups[::2], y[::2], pred[::2])
        right = FairnessState.from_dict(_state(groups[1::2], y[1::2], pred[1::2]).to_dict())
        left.merge(right)
        assert fairness_report(left) == fairness_report(whole)

    def test_merge_rejects_other_configuration(self) -> None:
        """States for different favourable classes do not merge."""
        with pytest.raises(ValueError, match="'0'"):
            FairnessState(["g"], "1").merge(FairnessState(["g"], "0"))

    def test_wrong_group_width_is_rejected(self) -> None:
        """Group tuples must carry one value per attribute."""
        with pytest.raises(ValueError, match="2 values"):
            FairnessState(["a", "b"], "1").update_predictions([("x",)], ["1"])
