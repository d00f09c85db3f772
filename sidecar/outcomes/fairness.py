"""Group fairness of a classifier: per-group rates and fairlearn's between-group gaps.

For each sensitive attribute the state holds, per group value, six counts: rows predicted,
favourable predictions, and among labelled rows TP, FP, TN, FN with "positive" meaning the
favourable class. Counts add, so replica states merge exactly.

Bounds: per attribute at most `4 * max_groups` group values are tracked (default 80 x 6 int64,
under 5 kB with keys); later values, and the smallest groups when a merge overflows, fold into
`other`. A report shows the `max_groups` (default 20) largest groups by rows and folds the rest
into `other`, which is shown but never enters an aggregate because it mixes groups.

Definitions (fairlearn 0.10+, `method="between_groups"`): demographic parity difference and
ratio are the max - min and min / max of group selection rates; equal opportunity difference is
the max - min of true positive rates; equalized odds difference is the larger of the TPR and FPR
differences. Only groups with at least `min_group_size` rows (labelled rows for TPR/FPR, default
30) take part, and a gap needs two such groups; otherwise it is null.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sidecar.outcomes.labels import OTHER

DEFAULT_MAX_GROUPS = 20
DEFAULT_MIN_GROUP_SIZE = 30
_TRACK_FACTOR = 4
ROWS, FAVOURABLE, TP, FP, TN, FN = range(6)
_Counts = np.ndarray[Any, np.dtype[np.int64]]


class FairnessState:
    """Per attribute, per group counts of predictions and labelled outcomes."""

    def __init__(
        self, attributes: Sequence[str], favourable: str, max_groups: int = DEFAULT_MAX_GROUPS
    ) -> None:
        if max_groups < 1:
            raise ValueError(f"max_groups={max_groups!r} must be at least 1")
        self.attributes = tuple(attributes)
        self.favourable = favourable
        self.max_groups = max_groups
        self.groups: dict[str, dict[str, _Counts]] = {a: {} for a in self.attributes}

    def _slot(self, attribute: str, group: str) -> _Counts:
        table = self.groups[attribute]
        if group not in table and len(table) >= _TRACK_FACTOR * self.max_groups:
            group = OTHER
        if group not in table:
            table[group] = np.zeros(6, dtype=np.int64)
        return table[group]

    def _add(
        self, groups: Sequence[tuple[str, ...]], columns: dict[int, np.ndarray[Any, Any]]
    ) -> None:
        # One np.unique and one bincount per attribute and count column, not a loop per row.
        if len(groups) and any(len(g) != len(self.attributes) for g in groups):
            raise ValueError(f"group tuples must have {len(self.attributes)} values")
        for a, attribute in enumerate(self.attributes):
            values = np.asarray([g[a] for g in groups], dtype=object)
            uniques, inverse = np.unique(values, return_inverse=True)
            inverse = inverse.reshape(-1)
            for column, mask in columns.items():
                sums = np.bincount(inverse, weights=mask, minlength=len(uniques))
                for u, total in zip(uniques, sums, strict=True):
                    if total:
                        self._slot(attribute, str(u))[column] += int(total)

    def update_predictions(
        self, groups: Sequence[tuple[str, ...]], predicted: Sequence[str | None]
    ) -> None:
        """Count predicted rows and favourable predictions per group (at prediction time)."""
        pred = np.asarray(predicted, dtype=object)
        known = pred != None  # noqa: E711 - elementwise comparison on an object array
        rows = [g for g, k in zip(groups, known, strict=True) if k]
        fav = (pred[known] == self.favourable).astype(np.float64)
        self._add(rows, {ROWS: np.ones(len(rows)), FAVOURABLE: fav})

    def update_labels(
        self,
        groups: Sequence[tuple[str, ...]],
        predicted: Sequence[str | None],
        true: Sequence[str | None],
    ) -> None:
        """Count TP, FP, TN, FN per group, the favourable class being positive."""
        pred, label = np.asarray(predicted, dtype=object), np.asarray(true, dtype=object)
        known = (pred != None) & (label != None)  # noqa: E711
        rows = [g for g, k in zip(groups, known, strict=True) if k]
        p, t = pred[known] == self.favourable, label[known] == self.favourable
        columns = {TP: p & t, FP: p & ~t, TN: ~p & ~t, FN: ~p & t}
        self._add(rows, {k: v.astype(np.float64) for k, v in columns.items()})

    def merge(self, other: FairnessState) -> None:
        """Add another state's counts; overflow beyond the tracking bound folds into `other`."""
        if other.attributes != self.attributes or other.favourable != self.favourable:
            raise ValueError(
                f"cannot merge fairness state for {other.attributes!r}/{other.favourable!r} "
                f"into {self.attributes!r}/{self.favourable!r}"
            )
        for attribute, table in other.groups.items():
            mine = self.groups[attribute]
            for group, counts in sorted(table.items(), key=lambda kv: -int(kv[1][ROWS])):
                if group in mine:
                    mine[group] += counts
                else:
                    self._slot(attribute, group)[:] += counts

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "attributes": list(self.attributes),
            "favourable": self.favourable,
            "max_groups": self.max_groups,
            "groups": {
                a: {g: c.tolist() for g, c in table.items()} for a, table in self.groups.items()
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FairnessState:
        """Rebuild from `to_dict`."""
        state = cls(data["attributes"], str(data["favourable"]), int(data["max_groups"]))
        for attribute, table in data["groups"].items():
            state.groups[attribute] = {
                str(g): np.asarray(c, dtype=np.int64) for g, c in table.items()
            }
        return state


@dataclass(frozen=True)
class GroupFigures:
    """One group's counts and rates (null below the minimum group size)."""

    group: str
    rows: int
    labelled_rows: int
    selection_rate: float | None
    tpr: float | None
    fpr: float | None
    accuracy: float | None


@dataclass(frozen=True)
class AttributeFairness:
    """Per-group figures and between-group gaps for one sensitive attribute."""

    attribute: str
    groups: list[GroupFigures]
    demographic_parity_difference: float | None
    demographic_parity_ratio: float | None
    equal_opportunity_difference: float | None
    equalized_odds_difference: float | None


@dataclass(frozen=True)
class FairnessReport:
    """Fairness figures per sensitive attribute."""

    favourable: str
    min_group_size: int
    attributes: list[AttributeFairness]

    def to_json(self) -> dict[str, Any]:
        """A dict of plain JSON types."""
        return asdict(self)


def _rate(numerator: int, denominator: int, enough: bool) -> float | None:
    return numerator / denominator if enough and denominator > 0 else None


def _group_figures(group: str, c: _Counts, min_size: int) -> GroupFigures:
    labelled = int(c[TP] + c[FP] + c[TN] + c[FN])
    enough = labelled >= min_size
    return GroupFigures(
        group=group,
        rows=int(c[ROWS]),
        labelled_rows=labelled,
        selection_rate=_rate(int(c[FAVOURABLE]), int(c[ROWS]), int(c[ROWS]) >= min_size),
        tpr=_rate(int(c[TP]), int(c[TP] + c[FN]), enough),
        fpr=_rate(int(c[FP]), int(c[FP] + c[TN]), enough),
        accuracy=_rate(int(c[TP] + c[TN]), labelled, enough),
    )


def _spread(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) - min(present) if len(present) >= 2 else None


def _attribute_report(
    attribute: str, table: dict[str, _Counts], state: FairnessState, min_size: int
) -> AttributeFairness:
    ranked = sorted(
        ((g, c) for g, c in table.items() if g != OTHER), key=lambda gc: (-int(gc[1][ROWS]), gc[0])
    )
    shown = ranked[: state.max_groups]
    other = sum((c for _, c in ranked[state.max_groups :]), table.get(OTHER, np.zeros(6, np.int64)))
    figures = [_group_figures(g, c, min_size) for g, c in shown]
    if int(np.asarray(other).sum()) > 0:
        figures.append(_group_figures(OTHER, np.asarray(other, dtype=np.int64), min_size))
    real = [f for f in figures if f.group != OTHER]
    selection = [f.selection_rate for f in real if f.selection_rate is not None]
    ratio = None
    if len(selection) >= 2 and max(selection) > 0:
        ratio = min(selection) / max(selection)
    tpr_gap = _spread([f.tpr for f in real])
    fpr_gap = _spread([f.fpr for f in real])
    odds = None if tpr_gap is None or fpr_gap is None else max(tpr_gap, fpr_gap)
    return AttributeFairness(
        attribute=attribute,
        groups=figures,
        demographic_parity_difference=_spread(selection),
        demographic_parity_ratio=ratio,
        equal_opportunity_difference=tpr_gap,
        equalized_odds_difference=odds,
    )


def fairness_report(
    state: FairnessState,
    favourable: str | None = None,
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
) -> FairnessReport:
    """Per-group rates and fairlearn-style gaps for every attribute in `state`."""
    if favourable is not None and favourable != state.favourable:
        raise ValueError(f"favourable={favourable!r} differs from the state's {state.favourable!r}")
    return FairnessReport(
        favourable=state.favourable,
        min_group_size=min_group_size,
        attributes=[
            _attribute_report(a, state.groups[a], state, min_group_size) for a in state.attributes
        ],
    )
