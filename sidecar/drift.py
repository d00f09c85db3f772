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
kind and slot count are computed as one 2-d numpy batch (`sidecar.drift_batch`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sidecar import nulls
from sidecar import statistics as st
from sidecar.derived import Derived
from sidecar.drift_batch import batch_statistics, compatible, discrepancy_slots
from sidecar.drift_rules import (
    CATEGORICAL_STATISTICS,
    DEFAULT_DATASET_SHARE,
    NUMERIC_STATISTICS,
    PVALUE_METHODS,
    DriftPolicy,
    DriftRule,
)
from sidecar.nulls import BASES, CALIBRATION, Basis, Calibration
from sidecar.reference.profile import ColumnProfile, ReferenceProfile
from sidecar.sketches.column import ColumnSketch
from sidecar.windows import WindowState

DEFAULT_POLICY = DriftPolicy()
"""The policy of a report or calibration given none."""


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
    decidable: tuple[str, ...] | None = None
    """The only feature columns that can have a verdict (the window's own and held ones); None:
    any. The rest are reference columns without data: scans skip them."""

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
        return [name for name, column in self.decidable_columns(group) if column.drift]

    def tested(self, group: str = "features") -> int:
        """Columns with a verdict."""
        return sum(1 for _, column in self.decidable_columns(group) if column.drift is not None)

    def decidable_columns(self, group: str = "features") -> Iterable[tuple[str, ColumnDrift]]:
        """The (name, column) pairs that can have a verdict, in report order."""
        if group != "features":
            return self.predictions.items()
        return decidable(self.features, self.decidable)


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
    """Compare a window with the reference; columns without a verdict say why.

    Columns are in reference order, then the window's columns the reference lacks. Reference
    columns the window has no sketch of come from `no_data_columns` (built once per reference
    and policy), so a 13,000-column reference costs per report only what the window observed.
    """
    policy = policy or DEFAULT_POLICY
    groups: dict[str, dict[str, ColumnDrift]] = {}
    for group in ("features", "predictions"):
        sketches: Mapping[str, ColumnSketch] = getattr(state, group)
        profiles: Mapping[str, ColumnProfile] = (
            {} if reference is None else getattr(reference, group)
        )
        observed = {name: (profiles.get(name), sketch) for name, sketch in sketches.items()}
        columns = dict(no_data_columns(profiles, policy)) if profiles else {}
        columns.update(_columns(observed, policy, calibration, reference is not None))
        groups[group] = columns
    observed_features = tuple(state.features)
    return dataset_verdict(
        state, groups["features"], groups["predictions"], policy, observed_features
    )


def decidable(
    columns: Mapping[str, ColumnDrift], names: Iterable[str] | None
) -> Iterable[tuple[str, ColumnDrift]]:
    """The columns among `names` (None: all), in the columns' order when all."""
    if names is None:
        return columns.items()
    return [(name, columns[name]) for name in names if name in columns]


def dataset_verdict(
    state: WindowState,
    features: Mapping[str, ColumnDrift],
    predictions: Mapping[str, ColumnDrift],
    policy: DriftPolicy,
    decidable_names: tuple[str, ...] | None = None,
) -> DriftReport:
    """The report with its dataset verdict (share and binomial count test; module docstring).

    `decidable_names`: the only features that can have a verdict (None: scan them all).
    """
    pairs = decidable(features, decidable_names)
    verdicts = [c.drift for _, c in pairs if c.drift is not None]
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
        decidable=decidable_names,
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
        and compatible(profile, sketch)
    }
    values, discrepancy, bases = batch_statistics(comparable)
    tested = {
        name: (bases[name], policy.rule_for(name, profile.kind).method)
        for name, (profile, sketch) in comparable.items()
        if sketch.count >= policy.min_samples and name in values and profile.count > 0
    }
    tables = calibration.tables(tested, policy.false_alarm_rate) if tested else {}
    out = {}
    for name, (profile, sketch) in pairs.items():
        reason = _no_verdict(profile, sketch, name in comparable, policy, referenced)
        decided = not reason and name in tables and profile is not None and sketch is not None
        base = _undecided(
            name, profile, sketch, policy, values.get(name), "" if decided else reason
        )
        if not decided or profile is None or sketch is None:
            out[name] = base
            continue
        rule = policy.rule_for(name, base.kind)
        out[name] = _decide(base, rule, discrepancy[name], tables[name], profile, sketch)
    return out


def _undecided(
    name: str,
    profile: ColumnProfile | None,
    sketch: ColumnSketch | None,
    policy: DriftPolicy,
    values: Mapping[str, float | None] | None,
    reason: str,
) -> ColumnDrift:
    """A column's report before its verdict, or without one when `reason` says why."""
    kind = profile.kind if profile is not None else (sketch.kind if sketch else "numeric")
    rule = policy.rule_for(name, kind)
    names = NUMERIC_STATISTICS if kind == "numeric" else CATEGORICAL_STATISTICS
    stats: dict[str, float | None] = dict.fromkeys(names)
    stats.update(values or {})
    return ColumnDrift(
        kind=kind,
        count=sketch.count if sketch is not None else 0,
        reference_count=profile.count if profile is not None else 0,
        missing=sketch.quality.missing if sketch is not None else 0,
        statistics=stats,
        method=rule.method,
        threshold=rule.threshold,
        drift=None,
        reason=reason or ("" if values is not None else "statistics undefined"),
    )


NO_DATA_REFERENCES = 4
"""References (with their policy) whose no-data columns stay built: ~0.5 KB a column."""

_NO_DATA: Derived[dict[str, ColumnDrift]] = Derived(NO_DATA_REFERENCES)


def no_data_columns(
    profiles: Mapping[str, ColumnProfile], policy: DriftPolicy
) -> dict[str, ColumnDrift]:
    """Every profile column's report for a window without its sketch (shared: do not mutate).

    Such a report depends only on the profile and the policy ("0 rows, need 100", or "the
    reference has no values of this column"), and a wide reference has thousands of them in
    every window of every model: built once per (profiles, policy), by identity.
    """

    def build() -> dict[str, ColumnDrift]:
        return {
            name: _undecided(
                name, profile, None, policy, None, _no_verdict(profile, None, False, policy, True)
            )
            for name, profile in profiles.items()
        }

    return _NO_DATA.get((profiles, policy), build)


CALIBRATE_AHEAD = 256
"""Reference columns `calibrate` simulates ahead beyond the observed ones (~35 ms each)."""

CALIBRATE_CHUNK = 16
"""Columns simulated per `Calibration.tables` call, so reports interleave with a calibration."""


def calibrate(
    reference: ReferenceProfile,
    policy: DriftPolicy | None = None,
    calibration: Calibration = CALIBRATION,
    observed: Iterable[str] = (),
    ahead: int | None = CALIBRATE_AHEAD,
) -> int:
    """Simulate null tables now, so the first reports after a reference change only interpolate.

    `observed` ("features:x", "predictions:y") come first, all of them; then the reference's
    other columns in order, at most `ahead` of them (None: every one). A column left out gets its
    table from the first report that tests it. Returns the number of columns simulated or found.
    """
    policy = policy or DEFAULT_POLICY
    columns: dict[str, tuple[str, ColumnProfile]] = {
        f"{group}:{name}": (name, profile)
        for group in ("features", "predictions")
        for name, profile in getattr(reference, group).items()
        if profile.count > 0
    }
    first = [key for key in dict.fromkeys(observed) if key in columns]
    chosen = set(first)
    rest = [key for key in columns if key not in chosen]
    wanted = first + (rest if ahead is None else rest[:ahead])
    for i in range(0, len(wanted), CALIBRATE_CHUNK):
        chunk: dict[str, tuple[Basis, str]] = {}
        for key in wanted[i : i + CALIBRATE_CHUNK]:
            # A basis (the reference's deciles) costs ~1 ms: only for the columns simulated.
            name, profile = columns[key]
            basis = BASES.get(profile, profile.kind == "categorical" and profile.other > 0)
            chunk[key] = (basis, policy.rule_for(name, profile.kind).method)
        calibration.tables(chunk, policy.false_alarm_rate)
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
