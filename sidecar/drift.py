"""Drift verdicts, reference profile vs window state, in the admin API's JSON shape.

Statistics per column (definitions in `sidecar.statistics`):
- numeric: PSI over the ~10 reference-decile groups of the fine bins (under/overflow folded into
  the first/last decile), KS D and its asymptotic p-value, Jensen-Shannon distance (base 2),
  Hellinger distance (both over all fine bins plus the tails) and Wasserstein-1 divided by the
  reference population std (by |mean|, or 1, when that std is 0);
- categorical: PSI, Jensen-Shannon, Hellinger and the chi-square goodness-of-fit p-value over the
  reference's top-K categories plus one "other" slot (values outside the top-K, including
  categories the reference never saw), present when either side has any.

Decision (`DriftPolicy`): a column drifts when its rule's statistic passes both the effect-size
threshold (numeric: normalised Wasserstein > 0.1; categorical: Jensen-Shannon > 0.1; "psi" > 0.2
is the usual alternative; for "ks_pvalue" and "chi2_pvalue" drift is p < threshold) and its null
quantile at this window's row count (`sidecar.nulls`), so a window without drift raises a column
with probability <= `false_alarm_rate` (0.001) whatever its size. No verdict (null, with a
`reason`) below `min_samples` (100) window values, without a reference, or for a column the
reference lacks. Dataset drift: at least `dataset_share` (0.5) of the features with a verdict
drifted, and that many are unlikely by chance: P(Binomial(total, false_alarm_rate) >= drifted)
<= false_alarm_rate, so with independent features the dataset's false-alarm rate per window is
<= false_alarm_rate too. Null when no feature has a verdict. Statistics of all columns of one
kind and slot count are computed as one 2-d numpy batch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from sidecar import nulls
from sidecar import statistics as st
from sidecar.nulls import BASES, CALIBRATION, Basis, Calibration
from sidecar.reference.profile import ColumnProfile, ReferenceProfile
from sidecar.sketches.column import CategoricalColumnSketch, ColumnSketch, NumericColumnSketch
from sidecar.statistics import FloatArray
from sidecar.windows import WindowState

DEFAULT_NUMERIC_METHOD = "wasserstein"
DEFAULT_NUMERIC_THRESHOLD = 0.1
DEFAULT_CATEGORICAL_METHOD = "js"
DEFAULT_CATEGORICAL_THRESHOLD = 0.1
DEFAULT_PSI_THRESHOLD = 0.2
DEFAULT_MIN_SAMPLES = 100
DEFAULT_DATASET_SHARE = 0.5
DEFAULT_FALSE_ALARM_RATE = nulls.DEFAULT_FALSE_ALARM_RATE
NUMERIC_STATISTICS = ("psi", "ks", "ks_pvalue", "js", "wasserstein", "hellinger")
CATEGORICAL_STATISTICS = ("psi", "js", "hellinger", "chi2_pvalue")
PVALUE_METHODS = frozenset({"ks_pvalue", "chi2_pvalue"})


@dataclass(frozen=True)
class DriftRule:
    """Which statistic decides drift, and its threshold."""

    method: str
    threshold: float

    def fires(self, value: Any) -> Any:
        """Whether the statistic passes the effect-size threshold (elementwise; None if unknown)."""
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
    false_alarm_rate: float = DEFAULT_FALSE_ALARM_RATE

    def __post_init__(self) -> None:
        if self.min_samples < 1:
            raise ValueError(f"min_samples={self.min_samples!r} must be >= 1")
        if not 0.0 < self.false_alarm_rate < 0.5:
            raise ValueError(f"false_alarm_rate={self.false_alarm_rate!r} must be in (0, 0.5)")
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
    """Drift statistics of one column and the verdict with what it was judged against.

    `critical` is the value the rule's statistic had to pass: max(threshold, null quantile), or
    for a p-value min(threshold, the p-value at the null quantile). `reason` says why `drift` is
    null ("" when there is a verdict); `held` that a latch keeps a cleared verdict raised.
    """

    kind: str
    count: int
    reference_count: int
    missing: int
    statistics: Mapping[str, float | None]
    method: str
    threshold: float
    drift: bool | None
    null_quantile: float | None = None
    critical: float | None = None
    reason: str = ""
    held: bool = False

    @property
    def value(self) -> float | None:
        """The rule's statistic."""
        return self.statistics.get(self.method)

    def to_json(self) -> dict[str, Any]:
        """The API's per-column object."""
        return {
            "kind": self.kind,
            "count": self.count,
            "reference_count": self.reference_count,
            "missing": self.missing,
            "statistics": dict(self.statistics),
            "method": self.method,
            "value": self.value,
            "threshold": self.threshold,
            "null_quantile": self.null_quantile,
            "critical": self.critical,
            "drift": self.drift,
            "held": self.held,
            "reason": self.reason or None,
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
    threshold: float = DEFAULT_DATASET_SHARE
    required: int | None = None
    rows: int = 0

    def to_json(self, model: str) -> dict[str, Any]:
        """The `GET /api/v1/drift` body."""
        return {
            "model": model,
            "window": window_span(self.start, self.end),
            "rows": self.rows,
            "features": {k: v.to_json() for k, v in self.features.items()},
            "predictions": {k: v.to_json() for k, v in self.predictions.items()},
            "dataset": {
                "drifted": self.drifted,
                "total": self.total,
                "share": self.share,
                "threshold": self.threshold,
                "required": self.required,
                "drift": self.drift,
            },
        }

    def drifted_names(self, group: str = "features") -> list[str]:
        """Names of the columns whose verdict is drift."""
        columns = self.features if group == "features" else self.predictions
        return [name for name, column in columns.items() if column.drift]

    def tested(self, group: str = "features") -> int:
        """Columns with a verdict."""
        columns = self.features if group == "features" else self.predictions
        return sum(1 for column in columns.values() if column.drift is not None)


def window_span(start: float, end: float) -> dict[str, str]:
    """`{"start", "end"}` of a window as ISO 8601 UTC, as the API documents carry it."""
    return {"start": _iso(start), "end": _iso(end)}


def _iso(seconds: float) -> str:
    """Unix seconds as ISO 8601 UTC."""
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat().replace("+00:00", "Z")


def drift_report(
    reference: ReferenceProfile | None,
    state: WindowState,
    policy: DriftPolicy | None = None,
    calibration: Calibration = CALIBRATION,
) -> DriftReport:
    """Compare a window with the reference; columns without a verdict say why."""
    policy = policy or DriftPolicy()
    groups: dict[str, dict[str, ColumnDrift]] = {}
    for group in ("features", "predictions"):
        sketches: Mapping[str, ColumnSketch] = getattr(state, group)
        profiles: Mapping[str, ColumnProfile] = (
            {} if reference is None else getattr(reference, group)
        )
        names = list(dict.fromkeys([*profiles, *sketches]))
        pairs = {name: (profiles.get(name), sketches.get(name)) for name in names}
        groups[group] = _columns(pairs, policy, calibration, reference is not None)
    return dataset_verdict(state, groups["features"], groups["predictions"], policy)


def dataset_verdict(
    state: WindowState,
    features: Mapping[str, ColumnDrift],
    predictions: Mapping[str, ColumnDrift],
    policy: DriftPolicy,
) -> DriftReport:
    """The report with its dataset verdict (share and binomial count test; module docstring)."""
    verdicts = [c.drift for c in features.values() if c.drift is not None]
    drifted, total = sum(verdicts), len(verdicts)
    share = drifted / total if total else None
    required = required_drifted(total, policy) if total else None
    return DriftReport(
        start=state.start,
        end=state.end,
        features=features,
        predictions=predictions,
        drifted=drifted,
        total=total,
        share=share,
        drift=None if required is None else drifted >= required,
        threshold=policy.dataset_share,
        required=required,
        rows=state.rows,
    )


def required_drifted(total: int, policy: DriftPolicy) -> int:
    """Fewest drifted features of `total` that make dataset drift (share and binomial tail)."""
    alpha = policy.false_alarm_rate
    by_share = max(1, math.ceil(policy.dataset_share * total - 1e-9))
    tail, k = 1.0, 0
    # P(X >= k) for X ~ Binomial(total, alpha), lowered term by term until it is <= alpha.
    term = (1.0 - alpha) ** total
    limit = alpha * (1.0 + 1e-9)  # 1 - (1 - alpha) rounds just above alpha
    while tail > limit and k < total:
        tail -= term
        k += 1
        term *= (total - k + 1) / k * alpha / (1.0 - alpha)
    return max(by_share, k if tail <= limit else total + 1)


def _columns(
    pairs: Mapping[str, tuple[ColumnProfile | None, ColumnSketch | None]],
    policy: DriftPolicy,
    calibration: Calibration,
    referenced: bool,
) -> dict[str, ColumnDrift]:
    """Every column's statistics (batched) and verdict."""
    comparable = {
        name: (profile, sketch)
        for name, (profile, sketch) in pairs.items()
        if profile is not None
        and sketch is not None
        and sketch.count > 0
        and _compatible(profile, sketch)
    }
    values, discrepancy, bases = _statistics(comparable)
    tested = {
        name: (bases[name], policy.rule_for(name, profile.kind).method)
        for name, (profile, sketch) in comparable.items()
        if sketch.count >= policy.min_samples and name in values and profile.count > 0
    }
    tables = calibration.tables(tested, policy.false_alarm_rate) if tested else {}
    out = {}
    for name, (profile, sketch) in pairs.items():
        kind = profile.kind if profile is not None else (sketch.kind if sketch else "numeric")
        rule = policy.rule_for(name, kind)
        count = sketch.count if sketch is not None else 0
        names = NUMERIC_STATISTICS if kind == "numeric" else CATEGORICAL_STATISTICS
        stats: dict[str, float | None] = dict.fromkeys(names)
        stats.update(values.get(name, {}))
        reason = _no_verdict(profile, sketch, name in comparable, policy, referenced)
        decided = not reason and name in tables and profile is not None and sketch is not None
        # Built once with its reason: a wide reference has thousands of columns without data,
        # and dataclasses.replace on each cost half of a 13,000-column report.
        base = ColumnDrift(
            kind=kind,
            count=count,
            reference_count=profile.count if profile is not None else 0,
            missing=sketch.quality.missing if sketch is not None else 0,
            statistics=stats,
            method=rule.method,
            threshold=rule.threshold,
            drift=None,
            reason="" if decided else (reason or "statistics undefined"),
        )
        if not decided or profile is None or sketch is None:
            out[name] = base
            continue
        out[name] = _decide(base, rule, discrepancy[name], tables[name], profile, sketch)
    return out


def calibrate(
    reference: ReferenceProfile,
    policy: DriftPolicy | None = None,
    calibration: Calibration = CALIBRATION,
) -> int:
    """Simulate the null tables of every reference column now (the first report needs them).

    Returns the number of columns; a report afterwards only interpolates (~0.01 ms a column).
    """
    policy = policy or DriftPolicy()
    wanted: dict[str, tuple[Basis, str]] = {}
    for group in ("features", "predictions"):
        profiles: Mapping[str, ColumnProfile] = getattr(reference, group)
        for name, profile in profiles.items():
            if profile.count == 0:
                continue
            basis = BASES.get(profile, profile.kind == "categorical" and profile.other > 0)
            wanted[f"{group}:{name}"] = (basis, policy.rule_for(name, profile.kind).method)
    calibration.tables(wanted, policy.false_alarm_rate)
    return len(wanted)


def column_drift(
    name: str,
    profile: ColumnProfile | None,
    sketch: ColumnSketch | None,
    policy: DriftPolicy,
    calibration: Calibration = CALIBRATION,
) -> ColumnDrift:
    """Statistics and verdict of one column (as in a report; null verdicts say why)."""
    return _columns({name: (profile, sketch)}, policy, calibration, profile is not None)[name]


def _no_verdict(
    profile: ColumnProfile | None,
    sketch: ColumnSketch | None,
    comparable: bool,
    policy: DriftPolicy,
    referenced: bool,
) -> str:
    """Why a column has no verdict ("" when it can have one)."""
    if not referenced:
        return "no reference profile"
    if profile is None:
        return "feature not in the reference"
    if profile.count == 0:
        return "the reference has no values of this column"
    count = sketch.count if sketch is not None else 0
    if count == 0:
        return f"0 rows, need {policy.min_samples}"
    if not comparable:
        return f"window sketch does not match the reference's {profile.kind} bins"
    if count < policy.min_samples:
        return f"{count} rows, need {policy.min_samples}"
    return ""


def _decide(
    base: ColumnDrift,
    rule: DriftRule,
    discrepancy: Mapping[str, float],
    table: nulls.NullTable,
    profile: ColumnProfile,
    sketch: ColumnSketch,
) -> ColumnDrift:
    """The verdict: past the effect-size threshold and past the null quantile at this n."""
    value = base.value
    if value is None:
        return replace(base, reason=f"{rule.method} is undefined for this window")
    statistic = nulls.DISCREPANCY.get(rule.method, rule.method)
    quantile = table.quantile(base.count)
    drift = bool(fires(rule, value, discrepancy[statistic], quantile))
    if rule.method in PVALUE_METHODS:
        slots = len(discrepancy_slots(profile, sketch))
        null_p = _pvalue(rule.method, quantile, profile.count, base.count, slots)
        critical = min(rule.threshold, null_p)
        return replace(base, null_quantile=null_p, critical=critical, drift=drift)
    critical = max(rule.threshold, quantile)
    return replace(base, null_quantile=quantile, critical=critical, drift=drift)


def fires(rule: DriftRule, value: Any, discrepancy: Any, quantile: float) -> Any:
    """The one drift decision (elementwise on arrays): effect size and null quantile both passed."""
    return rule.fires(value) & (discrepancy > quantile)


def _pvalue(method: str, discrepancy: float, reference_rows: int, rows: int, slots: int) -> float:
    """The p-value a discrepancy maps to (KS D, or the chi-square statistic over n)."""
    if method == "ks_pvalue":
        return st.ks_pvalue(discrepancy, reference_rows, rows)
    return st.chi2_sf(rows * discrepancy, max(1, slots - 1))


def _compatible(profile: ColumnProfile, sketch: ColumnSketch) -> bool:
    """Whether a window sketch was built on this reference column's bins or categories."""
    if isinstance(sketch, NumericColumnSketch):
        binned = sketch.binned
        return (
            profile.kind == "numeric" and binned is not None and binned.slots == len(profile.counts)
        )
    return (
        isinstance(sketch, CategoricalColumnSketch)
        and profile.kind == "categorical"
        and sketch.counts.categories == profile.category_names
    )


def discrepancy_slots(profile: ColumnProfile, sketch: ColumnSketch) -> FloatArray:
    """A window's counts on the reference's slots (categorical: "other" when either has one)."""
    if isinstance(sketch, NumericColumnSketch):
        assert sketch.binned is not None
        return sketch.binned.counts.astype(np.float64)
    assert isinstance(sketch, CategoricalColumnSketch)
    counts = sketch.counts.counts.astype(np.float64)
    if profile.other or sketch.counts.unseen:
        return np.append(counts, float(sketch.counts.unseen))
    return counts


def _statistics(
    comparable: Mapping[str, tuple[ColumnProfile, ColumnSketch]],
) -> tuple[dict[str, dict[str, float | None]], dict[str, dict[str, float]], dict[str, Basis]]:
    """Displayed statistics, increasing discrepancies and bases, batched by kind and slots."""
    batches: dict[tuple[str, int], list[str]] = {}
    bases: dict[str, Basis] = {}
    windows: dict[str, tuple[FloatArray, FloatArray | None]] = {}
    for name, (profile, sketch) in comparable.items():
        counts = discrepancy_slots(profile, sketch)
        other = profile.kind == "categorical" and counts.size > len(profile.categories)
        bases[name] = BASES.get(profile, other)
        sums = (
            sketch.binned.sums
            if isinstance(sketch, NumericColumnSketch) and sketch.binned is not None
            else None
        )
        windows[name] = (counts, sums)
        batches.setdefault((profile.kind, counts.size), []).append(name)
    values: dict[str, dict[str, float | None]] = {}
    found: dict[str, dict[str, float]] = {}
    for (kind, _), names in batches.items():
        methods = NUMERIC_STATISTICS if kind == "numeric" else CATEGORICAL_STATISTICS
        basis = nulls.stacked([bases[n] for n in names])
        counts = np.stack([windows[n][0] for n in names])
        sums = np.stack([windows[n][1] for n in names]) if kind == "numeric" else None  # type: ignore[misc]
        batch = nulls.discrepancies(basis, counts, sums, methods)
        for i, name in enumerate(names):
            found[name] = {m: float(v[i]) for m, v in batch.items()}
            values[name] = _displayed(found[name], comparable[name], counts[i])
    return values, found, bases


def _displayed(
    discrepancy: Mapping[str, float], pair: tuple[ColumnProfile, ColumnSketch], counts: FloatArray
) -> dict[str, float | None]:
    """The API's statistics from the discrepancies (p-values computed from D and chi-square)."""
    profile, sketch = pair
    shown = {m: v for m, v in discrepancy.items() if m != "chi2"}
    n = int(counts.sum())
    if profile.kind == "numeric":
        shown["ks_pvalue"] = st.ks_pvalue(discrepancy["ks"], profile.count, sketch.count)
    elif counts.size >= 2 and n > 0:
        shown["chi2_pvalue"] = st.chi2_sf(n * discrepancy["chi2"], counts.size - 1)
    else:
        shown["chi2_pvalue"] = 1.0
    return _finite(**shown)


def column_statistics(profile: ColumnProfile, sketch: ColumnSketch) -> dict[str, float | None]:
    """All statistics of one column's window against its reference (empty if incompatible)."""
    if sketch.count == 0 or not _compatible(profile, sketch):
        return {}
    return _statistics({"x": (profile, sketch)})[0]["x"]


def _finite(**values: float) -> dict[str, float | None]:
    """Statistics with non-finite values as None (JSON has no inf or NaN)."""
    return {k: (float(v) if math.isfinite(v) else None) for k, v in values.items()}
