"""JSON reports over the monitor's state: drift, data quality, performance and fairness.

Each function takes the monitor, a model name (None: the busiest model), a window view
(`current`, `previous`, `rolling`) and `now`, reads a snapshot under the monitor's lock and
computes the statistics outside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sidecar.drift import DriftPolicy, DriftReport, drift_report, window_span
from sidecar.monitor import Monitor
from sidecar.outcomes.windows import OutcomeSnapshot
from sidecar.quality import (
    ColumnCounts,
    FeatureSpec,
    QualityReport,
    Schema,
    WindowTotals,
    assess_quality,
    schema_from_window,
)
from sidecar.reference.profile import ReferenceProfile
from sidecar.windows import WINDOW_VIEWS, WindowState


class UnknownModel(LookupError):
    """No traffic has been seen for the model asked about."""


def check_view(which: str) -> str:
    """`which` if it names a window view, else ValueError."""
    if which not in WINDOW_VIEWS:
        raise ValueError(f"window={which!r} is not one of {', '.join(WINDOW_VIEWS)}")
    return which


@dataclass(frozen=True)
class WindowView:
    """One model's window, copied under the monitor's lock: what every report is computed on."""

    model: str
    snapshot: WindowState
    payload_errors: int
    reference: ReferenceProfile | None


def window_view(monitor: Monitor, model: str | None, which: str, now: float) -> WindowView:
    """Copy the chosen window of `model` (the busiest model when None) under the lock."""
    with monitor.lock:
        found = monitor.model(model)
        if found is None:
            raise UnknownModel(model or "any model")
        name, state = found
        snapshot = state.windows.snapshot(check_view(which), now)
        span = {state.windows.window_start(s) for s in (snapshot.start, snapshot.end - 1e-9)}
        first, last = min(span), max(span)
        errors = sum(n for start, n in state.payload_errors.items() if first <= start <= last)
        return WindowView(name, snapshot, errors, monitor.reference)


def drift_of(view: WindowView, policy: DriftPolicy) -> DriftReport:
    """Reference vs the view's window."""
    return drift_report(view.reference, view.snapshot, policy)


def drift_json(monitor: Monitor, model: str | None, which: str, now: float) -> dict[str, Any]:
    """The `/api/v1/drift` document."""
    view = window_view(monitor, model, which, now)
    return drift_of(view, monitor.policies.drift).to_json(view.model)


def _schema(
    reference: ReferenceProfile | None, columns: dict[str, ColumnCounts], totals: WindowTotals
) -> Schema:
    if reference is None:
        # Without a reference, expect what the window itself saw.
        return schema_from_window(columns, totals)
    features = tuple(
        FeatureSpec(name, "numeric" if p.kind == "numeric" else "categorical", p.minimum, p.maximum)
        for name, p in reference.features.items()
    )
    return Schema(features, None)


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


def quality_json(monitor: Monitor, model: str | None, which: str, now: float) -> dict[str, Any]:
    """The `/api/v1/quality` document."""
    view = window_view(monitor, model, which, now)
    window = window_span(view.snapshot.start, view.snapshot.end)
    return {"model": view.model, "window": window, **quality_of(view).to_json()}


def outcomes(
    monitor: Monitor, model: str | None, which: str, now: float
) -> tuple[str, OutcomeSnapshot]:
    """Performance and fairness of the predictions made in the chosen window."""
    with monitor.lock:
        found = monitor.model(model)
        if found is None:
            raise UnknownModel(model or "any model")
        name, state = found
        return name, state.outcomes.snapshot(check_view(which), now)


@dataclass(frozen=True)
class ModelReports:
    """One model's window read once: drift, quality and outcomes over one copy of its sketches.

    `/metrics` builds one per model and hands the busiest model's to the status signals, which
    would otherwise compute the same reports again (a drift report of 100 features costs ~20 ms).
    """

    view: WindowView
    drift: DriftReport
    quality: QualityReport
    outcome: OutcomeSnapshot


def model_reports(monitor: Monitor, model: str | None, which: str, now: float) -> ModelReports:
    """Drift, quality and outcomes of `model` (the busiest when None) over the window `which`."""
    view = window_view(monitor, model, which, now)
    _, outcome = outcomes(monitor, view.model, which, now)
    return ModelReports(view, drift_of(view, monitor.policies.drift), quality_of(view), outcome)


def performance_json(monitor: Monitor, model: str | None, which: str, now: float) -> dict[str, Any]:
    """The `/api/v1/performance` document."""
    name, snapshot = outcomes(monitor, model, which, now)
    data = snapshot.to_json()
    data.pop("fairness", None)
    return {"model": name, **data}


def fairness_json(monitor: Monitor, model: str | None, which: str, now: float) -> dict[str, Any]:
    """The `/api/v1/fairness` document."""
    name, snapshot = outcomes(monitor, model, which, now)
    data = snapshot.to_json()
    return {
        "model": name,
        "window_start": data.get("window_start"),
        "window_end": data.get("window_end"),
        "attributes": [a.label for a in monitor.policies.attributes],
        "fairness": data.get("fairness"),
    }
