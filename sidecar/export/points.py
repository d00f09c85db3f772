"""The values behind the analysis instruments, read from the sidecar's sources at one moment.

Two kinds, returned per OpenTelemetry instrument name as lists of (value, attributes):
`counter_points(sources)` are the cheap process counters (capture, decode errors, feedback, the
prediction store), read at every collection; `window_points(sources, now)` are the window
figures (drift, quality, outcomes, status), which cost a report per model and are computed off
the scrape by `sidecar.export.instruments`. Window figures come from the current window through
the same functions as the admin API (`sidecar.reports`, `sidecar.drift`), so `/metrics` and
`/api/v1/drift` agree at the same moment. Features are limited to the exported set of
`sidecar.export.features`; label values are sanitised by `label`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from sidecar import reports
from sidecar.capture import DROP_REASONS
from sidecar.deciles import BIN_LABELS, reference_fractions, window_quantiles
from sidecar.drift import DriftReport
from sidecar.export.features import FeatureExport
from sidecar.feature_rates import CHECKS
from sidecar.monitor import Monitor
from sidecar.outcomes.performance import PerformanceReport
from sidecar.outcomes.windows import OutcomeSnapshot
from sidecar.quality import QualityReport
from sidecar.signals.status import StatusSources, status_report
from sidecar.signals.verdicts import VERDICT_GAUGE
from sidecar.sketches.column import CategoricalColumnSketch, NumericColumnSketch
from sidecar.windows import WindowState

MAX_LABEL_LENGTH = 128
PERFORMANCE_METRICS = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
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

Attributes = Mapping[str, str]


@dataclass(frozen=True)
class ExportSources:
    """What the analysis metrics read: the status's sources, the feature export, other counters."""

    status: StatusSources
    export: FeatureExport
    metadata_fetches: Mapping[str, int] = field(default_factory=dict)


Points = dict[str, list[tuple[float, Attributes]]]


def label(value: object) -> str:
    """A bounded, printable label value: control characters become '_', at most 128 chars."""
    text = str(value)
    if not text.isprintable():
        text = "".join(c if c.isprintable() else "_" for c in text)
    return text[:MAX_LABEL_LENGTH]


def counter_points(sources: ExportSources) -> Points:
    """The process counters: capture, decode errors, feedback and the prediction store."""
    points: Points = defaultdict(list)
    _capture_points(sources, points)
    counters = sources.status.monitor.counters()
    feedback, entries, evictions = (
        counters.feedback,
        counters.prediction_entries,
        counters.evictions,
    )
    for outcome in ("matched", "unknown", "duplicate", "invalid"):
        points["sidecar.feedback.labels"].append((getattr(feedback, outcome), {"outcome": outcome}))
    points["sidecar.prediction_store.entries"].append((entries, {}))
    for reason, count in evictions.items():
        points["sidecar.prediction_store.evictions"].append((count, {"reason": reason}))
    return dict(points)


def window_points(sources: ExportSources, now: float) -> Points:
    """The window figures of every model at `now`, and the status signals."""
    points: Points = defaultdict(list)
    monitor: Monitor = sources.status.monitor
    export = sources.export
    counters = monitor.counters()
    computed: dict[str, reports.ModelReports] = {}
    for name, state in counters.models:
        found = computed[name] = reports.model_reports(
            monitor, sources.status.policy, name, "current", now
        )
        exported = _exported(export, state, found.drift)
        _drift_points(label(name), found.drift, found.view.snapshot, exported, points)
        _bin_points(label(name), export, state, exported, points)
        _quality_points(found.quality, name, exported, points)
        _outcome_points(found.outcome, name, points)
    shared = computed.get(counters.busiest) if counters.busiest is not None else None
    for signal in status_report(sources.status, now, computed=shared).signals:
        points["sidecar.status"].append(
            (VERDICT_GAUGE[signal.verdict], {"signal": label(signal.name)})
        )
    return dict(points)


def _capture_points(sources: ExportSources, points: Points) -> None:
    capture = sources.status.capture
    points["sidecar.capture.requests"].append((capture.seen, {}))
    points["sidecar.capture.sampled"].append((capture.sampled, {}))
    dropped = {reason: 0 for reason in DROP_REASONS} | dict(capture.dropped)
    for reason, count in dropped.items():
        points["sidecar.capture.dropped"].append((count, {"reason": label(reason)}))
    for (protocol, reason), count in sources.status.monitor.counters().decode_errors.items():
        attributes = {"protocol": label(protocol), "reason": label(reason)}
        points["sidecar.decode.errors"].append((count, attributes))
    for outcome, count in list(sources.metadata_fetches.items()):
        points["sidecar.model_metadata.fetches"].append((count, {"outcome": label(outcome)}))
    points["sidecar.capture.sampling_rate_ratio"].append((capture.sampler.effective_rate, {}))
    points["sidecar.capture.queue_depth"].append((capture.depth, {}))
    points["sidecar.analysis.cpu_ratio"].append((sources.status.worker.cpu_share, {}))


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


def _quality_points(
    quality: QualityReport, model_name: str, exported: list[str], points: Points
) -> None:
    model = label(model_name)
    for name in exported:
        feature = quality.features.get(name)
        if feature is None:
            continue
        for check in CHECKS:
            value = feature.excess(check)  # beyond the reference's own rate, as status judges
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
    _estimate_points(performance, model, points)
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


def _estimate_points(performance: PerformanceReport, model: str, points: Points) -> None:
    """The label-free estimate with its band, and estimate - realised once labels arrived."""
    for metric, figure in (performance.estimated or {}).items():
        attributes = {"model": model, "metric": metric}
        points["sidecar.model.estimated_performance"].append((figure["value"], attributes))
        for bound in ("low", "high"):
            band = {**attributes, "bound": bound}
            points["sidecar.model.estimated_performance_bound"].append((figure[bound], band))
    for metric, error in (performance.estimation_error or {}).items():
        attributes = {"model": model, "metric": metric}
        points["sidecar.model.estimation_error"].append((error, attributes))
