"""Drift verdicts, reference profile vs window state, in the admin API's JSON shape.

Statistics per column (definitions in `sidecar.statistics`):
- numeric: PSI over the ~10 reference-decile groups of the fine bins (under/overflow folded into
  the first/last decile), KS D and its asymptotic p-value, Jensen-Shannon distance (base 2),
  Hellinger distance (both over all fine bins plus the tails) and Wasserstein-1 divided by the
  reference population std (by |mean|, or 1, when that std is 0);
- categorical: PSI, Jensen-Shannon, Hellinger and the chi-square goodness-of-fit p-value over the
  reference's top-K categories plus one "other" slot (values outside the top-K, including
  categories the reference never saw), present when either side has any.

Default rule (`DriftPolicy`): numeric drift when normalised Wasserstein > 0.1, categorical when
Jensen-Shannon > 0.1; any statistic can be chosen per kind or per column ("psi" > 0.2 is the usual
alternative; for "ks_pvalue" and "chi2_pvalue" drift is p < threshold). No verdict (null) below
`min_samples` (100) window values. Dataset drift: share of features with a verdict that drifted
>= `dataset_share` (0.5), null when no feature has a verdict yet.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from sidecar import statistics as st
from sidecar.reference.profile import ColumnProfile, ReferenceProfile
from sidecar.sketches.column import CategoricalColumnSketch, ColumnSketch, NumericColumnSketch
from sidecar.windows import WindowState

DEFAULT_NUMERIC_METHOD = "wasserstein"
DEFAULT_NUMERIC_THRESHOLD = 0.1
DEFAULT_CATEGORICAL_METHOD = "js"
DEFAULT_CATEGORICAL_THRESHOLD = 0.1
DEFAULT_PSI_THRESHOLD = 0.2
DEFAULT_MIN_SAMPLES = 100
DEFAULT_DATASET_SHARE = 0.5
NUMERIC_STATISTICS = ("psi", "ks", "ks_pvalue", "js", "wasserstein", "hellinger")
CATEGORICAL_STATISTICS = ("psi", "js", "hellinger", "chi2_pvalue")
PVALUE_METHODS = frozenset({"ks_pvalue", "chi2_pvalue"})


@dataclass(frozen=True)
class DriftRule:
    """Which statistic decides drift, and its threshold."""

    method: str
    threshold: float

    def fires(self, value: float | None) -> bool | None:
        """Whether the statistic signals drift (None when it is unavailable)."""
        if value is None:
            return None
        return value < self.threshold if self.method in PVALUE_METHODS else value > self.threshold


@dataclass(frozen=True)
class DriftPolicy:
    """Drift rules per kind, per-column overrides, minimum sample and dataset share."""

    numeric: DriftRule = DriftRule(DEFAULT_NUMERIC_METHOD, DEFAULT_NUMERIC_THRESHOLD)
    categorical: DriftRule = DriftRule(DEFAULT_CATEGORICAL_METHOD, DEFAULT_CATEGORICAL_THRESHOLD)
    overrides: Mapping[str, DriftRule] = field(default_factory=dict)
    min_samples: int = DEFAULT_MIN_SAMPLES
    dataset_share: float = DEFAULT_DATASET_SHARE

    def __post_init__(self) -> None:
        if self.min_samples < 1:
            raise ValueError(f"min_samples={self.min_samples!r} must be >= 1")
        if not 0.0 < self.dataset_share <= 1.0:
            raise ValueError(f"dataset_share={self.dataset_share!r} must be in (0, 1]")
        for name, rule in (("numeric", self.numeric), ("categorical", self.categorical)):
            _check_rule(
                name, rule, NUMERIC_STATISTICS if name == "numeric" else CATEGORICAL_STATISTICS
            )
        for column, rule in self.overrides.items():
            _check_rule(column, rule, NUMERIC_STATISTICS + CATEGORICAL_STATISTICS)

    def rule_for(self, column: str, kind: str) -> DriftRule:
        """The rule for a column: its override, else its kind's default."""
        default = self.numeric if kind == "numeric" else self.categorical
        rule = self.overrides.get(column, default)
        allowed = NUMERIC_STATISTICS if kind == "numeric" else CATEGORICAL_STATISTICS
        return rule if rule.method in allowed else default


def _check_rule(name: str, rule: DriftRule, allowed: tuple[str, ...]) -> None:
    """Raise ValueError for an unknown method or a non-finite threshold."""
    if rule.method not in allowed:
        raise ValueError(f"drift method {rule.method!r} for {name!r} is not one of {allowed}")
    if not math.isfinite(rule.threshold):
        raise ValueError(f"drift threshold {rule.threshold!r} for {name!r} is not finite")


@dataclass(frozen=True)
class ColumnDrift:
    """Drift statistics and verdict of one column."""

    kind: str
    count: int
    reference_count: int
    missing: int
    statistics: Mapping[str, float | None]
    method: str
    threshold: float
    drift: bool | None

    def to_json(self) -> dict[str, Any]:
        """The API's per-column object."""
        return {
            "kind": self.kind,
            "count": self.count,
            "reference_count": self.reference_count,
            "missing": self.missing,
            "statistics": dict(self.statistics),
            "method": self.method,
            "threshold": self.threshold,
            "drift": self.drift,
        }


@dataclass(frozen=True)
class DriftReport:
    """Drift of every reference column in one window state, and the dataset verdict."""

    start: float
    end: float
    features: Mapping[str, ColumnDrift]
    predictions: Mapping[str, ColumnDrift]
    drifted: int
    total: int
    share: float | None
    drift: bool | None

    def to_json(self, model: str) -> dict[str, Any]:
        """The `GET /api/v1/drift` body."""
        return {
            "model": model,
            "window": window_span(self.start, self.end),
            "features": {k: v.to_json() for k, v in self.features.items()},
            "predictions": {k: v.to_json() for k, v in self.predictions.items()},
            "dataset": {
                "drifted": self.drifted,
                "total": self.total,
                "share": self.share,
                "drift": self.drift,
            },
        }


def window_span(start: float, end: float) -> dict[str, str]:
    """`{"start", "end"}` of a window as ISO 8601 UTC, as the API documents carry it."""
    return {"start": _iso(start), "end": _iso(end)}


def _iso(seconds: float) -> str:
    """Unix seconds as ISO 8601 UTC."""
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat().replace("+00:00", "Z")


def drift_report(
    reference: ReferenceProfile | None, state: WindowState, policy: DriftPolicy | None = None
) -> DriftReport:
    """Compare a window with the reference; columns without a reference get null verdicts."""
    policy = policy or DriftPolicy()
    groups: dict[str, dict[str, ColumnDrift]] = {}
    for group in ("features", "predictions"):
        sketches: Mapping[str, ColumnSketch] = getattr(state, group)
        profiles: Mapping[str, ColumnProfile] = (
            {} if reference is None else getattr(reference, group)
        )
        names = list(profiles) if reference is not None else list(sketches)
        groups[group] = {
            name: column_drift(name, profiles.get(name), sketches.get(name), policy)
            for name in names
        }
    verdicts = [c.drift for c in groups["features"].values() if c.drift is not None]
    drifted, total = sum(verdicts), len(verdicts)
    share = drifted / total if total else None
    return DriftReport(
        start=state.start,
        end=state.end,
        features=groups["features"],
        predictions=groups["predictions"],
        drifted=drifted,
        total=total,
        share=share,
        drift=None if share is None else share >= policy.dataset_share,
    )


def column_drift(
    name: str, profile: ColumnProfile | None, sketch: ColumnSketch | None, policy: DriftPolicy
) -> ColumnDrift:
    """Statistics and verdict for one column (all null without a reference or any data)."""
    kind = profile.kind if profile is not None else (sketch.kind if sketch else "numeric")
    rule = policy.rule_for(name, kind)
    count = sketch.count if sketch is not None else 0
    names = NUMERIC_STATISTICS if kind == "numeric" else CATEGORICAL_STATISTICS
    values: dict[str, float | None] = dict.fromkeys(names)
    if profile is not None and sketch is not None and count > 0:
        values.update(column_statistics(profile, sketch))
    verdict = rule.fires(values.get(rule.method)) if count >= policy.min_samples else None
    return ColumnDrift(
        kind=kind,
        count=count,
        reference_count=profile.count if profile is not None else 0,
        missing=sketch.quality.missing if sketch is not None else 0,
        statistics=values,
        method=rule.method,
        threshold=rule.threshold,
        drift=verdict,
    )


def column_statistics(profile: ColumnProfile, sketch: ColumnSketch) -> dict[str, float | None]:
    """All statistics of one column's window against its reference (empty if incompatible)."""
    if isinstance(sketch, NumericColumnSketch) and sketch.binned is not None:
        if profile.kind != "numeric" or sketch.binned.slots != len(profile.counts):
            return {}
        return _numeric(profile, sketch)
    if isinstance(sketch, CategoricalColumnSketch) and profile.kind == "categorical":
        return _categorical(profile, sketch)
    return {}


def _numeric(profile: ColumnProfile, sketch: NumericColumnSketch) -> dict[str, float | None]:
    """Numeric statistics on the reference's fine bins."""
    if sketch.binned is None:
        return {}
    ref = np.asarray(profile.counts, dtype=np.float64)
    win = sketch.binned.counts
    groups = st.decile_boundaries(ref)
    d = st.ks_statistic(ref, win)
    distance = st.wasserstein_binned(
        profile.edges_array,
        (ref, np.asarray(profile.sums, dtype=np.float64)),
        (win, sketch.binned.sums),
    )
    scale = profile.std or abs(profile.mean or 0.0) or 1.0
    return _finite(
        psi=st.population_stability_index(
            st.group_counts(ref, groups), st.group_counts(win, groups)
        ),
        ks=d,
        ks_pvalue=st.ks_pvalue(d, profile.count, sketch.count),
        js=st.jensen_shannon_distance(ref, win),
        wasserstein=distance / scale,
        hellinger=st.hellinger_distance(ref, win),
    )


def _categorical(
    profile: ColumnProfile, sketch: CategoricalColumnSketch
) -> dict[str, float | None]:
    """Categorical statistics over the reference categories plus "other"."""
    counts = sketch.counts
    if counts.categories != profile.category_names:
        return {}
    ref = [float(count) for _, count in profile.categories]
    win = counts.counts.astype(np.float64).tolist()
    if profile.other or counts.unseen:
        ref.append(float(profile.other))
        win.append(float(counts.unseen))
    r, w = np.asarray(ref), np.asarray(win)
    return _finite(
        psi=st.population_stability_index(r, w),
        js=st.jensen_shannon_distance(r, w),
        hellinger=st.hellinger_distance(r, w),
        chi2_pvalue=st.chi_square_pvalue(r, w),
    )


def _finite(**values: float) -> dict[str, float | None]:
    """Statistics with non-finite values as None (JSON has no inf or NaN)."""
    return {k: (float(v) if math.isfinite(v) else None) for k, v in values.items()}
