"""JSON reports over the monitor's state: drift, data quality, performance and fairness.

Each function takes the monitor, the `ReportPolicy` it judges with (the runtime builds it from
the configured policies), a model name (None: the busiest model), a window view
(`current` = the sliding window, `previous`, `rolling`) and `now`, takes one consistent copy
through `Monitor.view` and computes the statistics outside the monitor's lock. Drift verdicts
pass the model's latch (`sidecar.signals.hysteresis`): a raised verdict clears only after
`status.clear_after_seconds` (default one window) clean, for every reader alike.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sidecar.derived import Derived
from sidecar.drift import (
    DEFAULT_POLICY,
    ColumnDrift,
    DriftReport,
    dataset_verdict,
    drift_report,
    window_span,
)
from sidecar.drift_rules import DriftPolicy
from sidecar.feature_rates import FeatureSpec
from sidecar.model_state import ModelView
from sidecar.monitor import Monitor
from sidecar.outcomes.windows import OutcomeSnapshot
from sidecar.quality import (
    ColumnCounts,
    QualityReport,
    Schema,
    WindowTotals,
    assess_quality,
    schema_from_window,
)
from sidecar.reference.profile import ColumnProfile, ReferenceProfile
from sidecar.signals.hysteresis import Latch
from sidecar.windows import WINDOW_VIEWS, WindowState


class UnknownModel(LookupError):
    """No traffic has been seen for the model asked about."""


@dataclass(frozen=True)
class ReportPolicy:
    """What the reports judge with: the drift policy and the fairness attributes' labels."""

    drift: DriftPolicy = DEFAULT_POLICY
    attributes: tuple[str, ...] = ()
    """Labels of the fairness attributes (`Attribute.label`), as `/api/v1/fairness` lists them."""


def check_view(which: str) -> str:
    """`which` if it names a window view, else ValueError."""
    if which not in WINDOW_VIEWS:
        raise ValueError(f"window={which!r} is not one of {', '.join(WINDOW_VIEWS)}")
    return which


WindowView = ModelView
"""One model's window, copied under the monitor's lock: what every report is computed on."""


def window_view(monitor: Monitor, model: str | None, which: str, now: float) -> WindowView:
    """Copy the chosen window of `model` (the busiest model when None) at one moment."""
    view = monitor.view(model, check_view(which), now)
    if view is None:
        raise UnknownModel(model or "any model")
    return view


def drift_of(view: WindowView, policy: DriftPolicy) -> DriftReport:
    """Reference vs the view's window: the one drift verdict, held by the model's latch."""
    report = drift_report(view.reference, view.snapshot, policy)
    # Only the sliding view is live; previous and rolling are history and are never held.
    return held(report, view.latch, view.at, policy) if view.which == "current" else report


def held(report: DriftReport, latch: Latch, now: float, policy: DriftPolicy) -> DriftReport:
    """The report with each column's verdict and the dataset's held for the latch's time."""
    groups = {}
    raised = latch.raised()
    decidable: list[str] = []
    for group in ("features", "predictions"):
        columns = report.features if group == "features" else report.predictions
        # Only drifted columns and those the latch holds can change: a clean column the latch
        # does not hold reads as it is, so a 13,000-column report latches its few drifted ones.
        prefix = f"{group}:"
        touched = [name for name, c in report.decidable_columns(group) if c.drift]
        touched += [key[len(prefix) :] for key in raised if key.startswith(prefix)]
        found = dict(columns)
        for name in dict.fromkeys(touched):
            if name in columns:
                found[name] = _held(latch, prefix + name, columns[name], now)
        groups[group] = found
        if group == "features":
            decidable = [name for name in touched if name in columns]
    names = (
        None if report.decidable is None else tuple(dict.fromkeys([*report.decidable, *decidable]))
    )
    held_report = dataset_verdict(
        WindowState(report.start, report.end, rows=report.rows),
        groups["features"],
        groups["predictions"],
        policy,
        names,
    )
    level = latch.hold("dataset", _level(held_report.drift), now).level
    return replace(held_report, drift=_verdict(level, held_report.drift))


def _held(latch: Latch, key: str, column: ColumnDrift, now: float) -> ColumnDrift:
    found = latch.hold(key, _level(column.drift), now)
    if found.held_for is None:
        return column
    reason = f"held: drifted {found.held_for:.0f} s ago, clears after {latch.clear_after:g} s clean"
    return replace(column, drift=True, held=True, reason=reason)


def _level(drift: bool | None) -> int:
    return -1 if drift is None else int(drift)


def _verdict(level: int, live: bool | None) -> bool | None:
    return True if level > 0 else live


def drift_json(
    monitor: Monitor, policy: ReportPolicy, model: str | None, which: str, now: float
) -> dict[str, Any]:
    """The `/api/v1/drift` document."""
    view = window_view(monitor, model, which, now)
    return drift_of(view, policy.drift).to_json(view.model)


SCHEMAS = 4
"""References whose quality schema stays built (`_schema`): one small spec a feature."""

_SCHEMAS: Derived[Schema] = Derived(SCHEMAS)


def _schema(
    reference: ReferenceProfile | None, columns: dict[str, ColumnCounts], totals: WindowTotals
) -> Schema:
    if reference is None:
        # Without a reference, expect what the window itself saw.
        return schema_from_window(columns, totals)
    return _SCHEMAS.get((reference,), lambda: _reference_schema(reference))


def _reference_schema(reference: ReferenceProfile) -> Schema:
    features = tuple(
        FeatureSpec(
            name,
            "numeric" if p.kind == "numeric" else "categorical",
            p.minimum,
            p.maximum,
            *_reference_rates(p),
        )
        for name, p in reference.features.items()
    )
    return Schema(features, None)


def _reference_rates(profile: ColumnProfile) -> tuple[float, float]:
    """The reference's missing and invalid shares of its rows."""
    rows = profile.count + profile.missing + profile.invalid
    return (profile.missing / rows, profile.invalid / rows) if rows else (0.0, 0.0)


def quality_of(view: WindowView) -> QualityReport:
    """Data quality of the view's window against the reference schema (or the window's own)."""
    snapshot, errors, reference = view.snapshot, view.payload_errors, view.reference
    columns: dict[str, ColumnCounts] = {}
    for name, sketch in snapshot.features.items():
        counts = sketch.quality
        columns[name] = ColumnCounts(
            rows=snapshot.rows,
            present=counts.present,
            missing=counts.missing,
            nan=counts.non_finite,
            type_mismatch=counts.type_mismatch,
            out_of_range=counts.out_of_range,
            kind="numeric" if sketch.kind == "numeric" else "categorical",
        )
    requests = snapshot.requests + errors
    totals = WindowTotals(
        rows=snapshot.rows,
        requests=requests,
        payload_errors=errors,
        rows_per_request_sum=snapshot.rows,
        rows_per_request_count=snapshot.requests,
    )
    return assess_quality(
        _schema(reference, columns, totals), columns, totals, snapshot.unexpected_features
    )


def quality_json(
    monitor: Monitor, policy: ReportPolicy, model: str | None, which: str, now: float
) -> dict[str, Any]:
    """The `/api/v1/quality` document."""
    view = window_view(monitor, model, which, now)
    window = window_span(view.snapshot.start, view.snapshot.end)
    return {"model": view.model, "window": window, **quality_of(view).to_json()}


def outcomes(
    monitor: Monitor, model: str | None, which: str, now: float
) -> tuple[str, OutcomeSnapshot]:
    """Performance and fairness of the predictions made in the chosen window."""
    found = monitor.outcome(model, check_view(which), now)
    if found is None:
        raise UnknownModel(model or "any model")
    return found


@dataclass(frozen=True)
class ModelReports:
    """One model's window read once: drift, quality and outcomes over one copy of its state.

    `/metrics` builds one per model and hands the busiest model's to the status signals, which
    would otherwise compute the same reports again.
    """

    view: WindowView
    drift: DriftReport
    quality: QualityReport
    outcome: OutcomeSnapshot


def model_reports(
    monitor: Monitor, policy: ReportPolicy, model: str | None, which: str, now: float
) -> ModelReports:
    """Drift, quality and outcomes of `model` (the busiest when None) over the window `which`."""
    view = window_view(monitor, model, which, now)
    return ModelReports(view, drift_of(view, policy.drift), quality_of(view), view.outcome)


def performance_json(
    monitor: Monitor, policy: ReportPolicy, model: str | None, which: str, now: float
) -> dict[str, Any]:
    """The `/api/v1/performance` document."""
    name, snapshot = outcomes(monitor, model, which, now)
    data = snapshot.to_json()
    data.pop("fairness", None)
    return {"model": name, **data}


def fairness_json(
    monitor: Monitor, policy: ReportPolicy, model: str | None, which: str, now: float
) -> dict[str, Any]:
    """The `/api/v1/fairness` document."""
    name, snapshot = outcomes(monitor, model, which, now)
    data = snapshot.to_json()
    return {
        "model": name,
        "window_start": data.get("window_start"),
        "window_end": data.get("window_end"),
        "attributes": list(policy.attributes),
        "fairness": data.get("fairness"),
    }
