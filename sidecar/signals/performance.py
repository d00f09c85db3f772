"""The performance and low-confidence signals, read from one window's performance report.

`performance_signal` judges the realised figure once the window has `min_labelled_rows`
labelled rows (default 50) and, until then, the label-free estimate (classification only); the
detail says which one it used. `confidence_signal` counts rows under the one cut-off
`performance.low_confidence` (default 0.6) and, when the reference profile carries its scores,
judges the excess of the window's share over the reference's share under the same cut-off and
threshold, so a model that is often unsure by design does not warn; without them, the share
itself is judged. Both return `unknown` on thin windows.
"""

from __future__ import annotations

from sidecar.outcomes.performance import PerformanceReport
from sidecar.signals.thresholds import StatusThresholds
from sidecar.signals.verdicts import Signal, against_floor, grade, unknown

PERFORMANCE = "performance"
LOW_CONFIDENCE = "low_confidence"
PRIMARY_METRIC = {"classification": "accuracy", "regression": "rmse"}


def performance_signal(report: PerformanceReport, t: StatusThresholds) -> Signal:
    """The realised figure when labels suffice, else the estimate, against the floor."""
    floor = t.performance_floor
    if floor is None:
        return unknown(PERFORMANCE, "no performance floor configured")
    metric = PRIMARY_METRIC.get(report.task, "accuracy")
    labelled = report.labelled_rows
    realised = getattr(report, metric)
    if realised is not None and labelled >= t.min_labelled_rows:
        detail = f"{metric} {realised:.4g} realised over {labelled} labelled rows"
        return against_floor(metric, realised, t, floor, detail)
    need = f"{labelled} labelled rows (need {t.min_labelled_rows})"
    estimate = (report.estimated or {}).get(metric)
    if estimate is None:
        why = "no label-free estimate for regression" if report.task == "regression" else ""
        return unknown(PERFORMANCE, "; ".join(filter(None, [need, why])), floor)
    source = "calibrated on the reference" if report.calibrated else "uncalibrated"
    detail = (
        f"{metric} {estimate['value']:.4g} estimated ({source}, 95% band "
        f"{estimate['low']:.4g}-{estimate['high']:.4g}) from {report.estimated_rows} "
        f"predictions; {need}"
    )
    return against_floor(metric, estimate["value"], t, floor, detail)


def confidence_signal(report: PerformanceReport, t: StatusThresholds) -> Signal:
    """Share of predictions under the low-confidence cut-off, beside the reference's share."""
    rows, share = report.confidence_rows, report.low_confidence_share
    if rows < t.min_rows or share is None:
        return unknown(
            LOW_CONFIDENCE, f"{rows} predictions with a probability", t.low_confidence_warning
        )
    low = round(share * rows)
    detail = f"{low} of {rows} under p={report.low_confidence_threshold:g}"
    reference = report.reference_low_confidence_share
    if reference is None:
        return grade(
            LOW_CONFIDENCE, share, t.low_confidence_warning, t.low_confidence_critical, detail
        )
    detail += f" ({share:.1%}; reference {reference:.1%}, judged on the excess)"
    excess = share - reference
    return grade(
        LOW_CONFIDENCE, excess, t.low_confidence_warning, t.low_confidence_critical, detail
    )
