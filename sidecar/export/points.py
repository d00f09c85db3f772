"""The values behind the analysis instruments, read from a running sidecar at one moment.

`collect_points(runtime, export, now)` returns, per OpenTelemetry instrument name, the list of
(value, attributes) points to observe. Window figures come from the current window through the
same functions as the admin API (`sidecar.reports`, `sidecar.drift`), so `/metrics` and
`/api/v1/drift` agree at the same moment. Features are limited to the exported set of
`sidecar.export.features`; label values are sanitised by `label`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import TYPE_CHECKING

from sidecar import reports
from sidecar.deciles import window_quantiles
from sidecar.drift import DriftReport
from sidecar.export.features import BIN_LABELS, FeatureExport, reference_fractions
from sidecar.monitor import Monitor
from sidecar.outcomes.windows import OutcomeSnapshot
from sidecar.quality import CHECKS, QualityReport
from sidecar.signals.status import status_report
from sidecar.signals.verdicts import VERDICT_GAUGE
from sidecar.sketches.column import CategoricalColumnSketch, NumericColumnSketch
from sidecar.windows import WindowState

if TYPE_CHECKING:
    from sidecar.runtime import Runtime

MAX_LABEL_LENGTH = 128
PERFORMANCE_METRICS = (
    "accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "f1_weighted",
    "log_loss",
    "brier",
    "mae",
    "rmse",
    "mape",
    "r2",
)
GROUP_METRICS = ("selection_rate", "tpr", "fpr", "accuracy")
GAP_METRICS = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equal_opportunity_difference",
    "equalized_odds_difference",
)

DROP_REASONS = ("too_large", "queue_full", "rate_cap", "incomplete")
"""Reasons `sidecar.capture` drops a sampled pair for, exported from the start at 0."""

Attributes = Mapping[str, str]
Points = dict[str, list[tuple[float, Attributes]]]


def label(value: object) -> str:
    """A bounded, printable label value: control characters become '_', at most 128 chars."""
    text = str(value)
    if not text.isprintable():
        text = "".join(c if c.isprintable() else "_" for c in text)
    return text[:MAX_LABEL_LENGTH]


def collect_points(runtime: Runtime, export: FeatureExport, now: float) -> Points:
    """Every analysis point of `runtime` at `now`."""
    points: Points = defaultdict(list)
    _capture_points(runtime, points)
    monitor: Monitor = runtime.monitor
    counters = monitor.counters()
    feedback, entries, evictions = (
        counters.feedback,
        counters.prediction_entries,
        counters.evictions,
    )
    computed: dict[str, reports.ModelReports] = {}
    for name, state in counters.models:
        found = computed[name] = reports.model_reports(monitor, name, "current", now)
        exported = _exported(export, state, found.drift)
        _drift_points(label(name), found.drift, found.view.snapshot, exported, points)
        _bin_points(label(name), export, state, exported, points)
        _quality_points(found.quality, name, exported, points)
        _outcome_points(found.outcome, name, points)
    for outcome in ("matched", "unknown", "duplicate", "invalid"):
        points["sidecar.feedback.labels"].append((getattr(feedback, outcome), {"outcome": outcome}))
    points["sidecar.prediction_store.entries"].append((entries, {}))
    for reason, count in evictions.items():
        points["sidecar.prediction_store.evictions"].append((count, {"reason": reason}))
    shared = computed.get(counters.busiest) if counters.busiest is not None else None
    for signal in status_report(runtime.status_sources, now, computed=shared).signals:
        points["sidecar.status"].append(
            (VERDICT_GAUGE[signal.verdict], {"signal": label(signal.name)})
        )
    return dict(points)


def _capture_points(runtime: Runtime, points: Points) -> None:
    capture = runtime.capture
    points["sidecar.capture.requests"].append((capture.seen, {}))
    points["sidecar.capture.sampled"].append((capture.sampled, {}))
    dropped = {reason: 0 for reason in DROP_REASONS} | dict(capture.dropped)
    for reason, count in dropped.items():
        points["sidecar.capture.dropped"].append((count, {"reason": label(reason)}))
    for (protocol, reason), count in runtime.monitor.counters().decode_errors.items():
        attributes = {"protocol": label(protocol), "reason": label(reason)}
        points["sidecar.decode.errors"].append((count, attributes))
    points["sidecar.capture.sampling_rate_ratio"].append((capture.sampler.effective_rate, {}))
    points["sidecar.capture.queue_depth"].append((capture.depth, {}))
    points["sidecar.analysis.cpu_ratio"].append((runtime.worker.cpu_share, {}))


def _exported(export: FeatureExport, state: object, report: DriftReport) -> list[str]:
    """Feature names to export for a model: the admitted ones, else the first `max` reported."""
    admitted = export.model(state)
    if admitted is not None:
        return list(admitted.names)
    return list(report.features)[: export.max_features]


def _drift_points(
    model: str, report: DriftReport, window: WindowState, exported: list[str], points: Points
) -> None:
    for group, prefix, key in (
        ("features", "sidecar.feature", "feature"),
        ("predictions", "sidecar.prediction", "output"),
    ):
        columns = report.features if group == "features" else report.predictions
        names = exported if group == "features" else list(columns)[: len(exported) or 100]
        for name in names:
            column = columns.get(name)
            if column is None:
                continue
            base = {"model": model, key: label(name)}
            for statistic, value in column.statistics.items():
                if value is not None:
                    points[f"{prefix}.drift"].append((value, {**base, "statistic": statistic}))
            if column.drift is not None:
                points[f"{prefix}.drift_detected"].append((int(column.drift), base))
    if report.share is not None:
        points["sidecar.dataset.drift_share_ratio"].append((report.share, {"model": model}))
    for name in exported:
        base = {"model": model, "feature": label(name)}
        column = report.features.get(name)
        sketch = window.features.get(name)
        count = column.count if column is not None else (sketch.count if sketch else 0)
        points["sidecar.feature.rows"].append((count, base))
        if isinstance(sketch, NumericColumnSketch):
            for q, value in window_quantiles(sketch).items():
                if value is not None:
                    points["sidecar.feature.quantile"].append(
                        (value, {**base, "quantile": f"{q:g}"})
                    )
        elif isinstance(sketch, CategoricalColumnSketch) and sketch.counts.total:
            ratio = sketch.counts.unseen / sketch.counts.total
            points["sidecar.feature.unseen_ratio"].append((ratio, base))


def _bin_points(
    model: str, export: FeatureExport, state: object, exported: list[str], points: Points
) -> None:
    admitted = export.model(state)
    if admitted is None:
        return
    points["sidecar.features.dropped"].append((admitted.dropped, {"model": model}))
    counts = admitted.bin_counts()
    for name, profile in admitted.binned_profiles().items():
        base = {"model": model, "feature": label(name)}
        fractions = reference_fractions(profile)
        for bin_label in BIN_LABELS:
            attributes = {**base, "bin": bin_label}
            points["sidecar.feature.bin_rows"].append((counts[name][bin_label], attributes))
            points["sidecar.feature.reference_fraction"].append((fractions[bin_label], attributes))


def _quality_points(quality: QualityReport, name: str, exported: list[str], points: Points) -> None:
    model = label(name)
    wanted = set(exported)
    for feature in quality.features:
        if feature.name not in wanted:
            continue
        for check in CHECKS:
            value = feature.rate(check)
            if value is not None:
                attributes = {"model": model, "feature": label(feature.name), "check": check}
                points["sidecar.feature.quality_ratio"].append((value, attributes))
    points["sidecar.unexpected_features"].append((quality.unexpected_count, {"model": model}))
    if quality.payload_error_rate is not None:
        points["sidecar.payload_error_ratio"].append((quality.payload_error_rate, {"model": model}))


def _outcome_points(outcome: OutcomeSnapshot, name: str, points: Points) -> None:
    model = label(name)
    performance = outcome.performance
    for metric in PERFORMANCE_METRICS:
        value = getattr(performance, metric)
        if value is not None:
            points["sidecar.model.performance"].append((value, {"model": model, "metric": metric}))
    if performance.estimated_accuracy is not None:
        points["sidecar.model.estimated_accuracy_ratio"].append(
            (performance.estimated_accuracy, {"model": model})
        )
    if performance.low_confidence_share is not None:
        points["sidecar.model.low_confidence_ratio"].append(
            (performance.low_confidence_share, {"model": model})
        )
    points["sidecar.model.labelled_rows"].append((performance.labelled_rows, {"model": model}))
    if outcome.fairness is None:
        return
    for attribute in outcome.fairness.attributes:
        base = {"model": model, "attribute": label(attribute.attribute)}
        for metric in GAP_METRICS:
            value = getattr(attribute, metric)
            if value is not None:
                points["sidecar.fairness.gap"].append((value, {**base, "metric": metric}))
        for group in attribute.groups:
            for metric in GROUP_METRICS:
                value = getattr(group, metric)
                if value is not None:
                    attributes = {**base, "group": label(group.group), "metric": metric}
                    points["sidecar.fairness.group_rate_ratio"].append((value, attributes))
