"""Analysis metrics: drift, quality, performance, fairness, capture and status as instruments.

Observable instruments on the sidecar's meter provider; their callbacks read one `Points`
snapshot built from the monitor, capture, worker and status at collection time. The snapshot is
cached for `DEFAULT_CACHE_SECONDS` (0.5 s), so the ~30 callbacks of one scrape (or one OTLP
export) compute drift once. Window figures describe the **current window**; names, labels and
meanings are catalogued in docs/metrics.md.

Cardinality: per model (at most 16, see `sidecar.monitor`) at most `max_features` features
(`sidecar.export.features`), label values cut to `MAX_LABEL_LENGTH` (128) printable characters,
so the series count is bounded by 16 * max_features * (12 bins + ~20 per-feature series) plus a
few hundred model- and process-level series.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from opentelemetry.metrics import CallbackOptions, Observation

from sidecar import __version__
from sidecar.export.features import FeatureExport
from sidecar.export.points import Points, collect_points

if TYPE_CHECKING:
    from sidecar.export.telemetry import Telemetry
    from sidecar.runtime import Runtime

DEFAULT_CACHE_SECONDS = 0.5


@dataclass(frozen=True)
class Instrument:
    """One analysis instrument: OpenTelemetry name, kind, unit and description."""

    name: str
    kind: str
    unit: str
    description: str


def _i(name: str, kind: str, unit: str, description: str) -> Instrument:
    return Instrument(name, kind, unit, description)


INSTRUMENTS: tuple[Instrument, ...] = (
    _i("sidecar.capture.requests", "counter", "{request}", "Requests seen by capture."),
    _i("sidecar.capture.sampled", "counter", "{request}", "Requests sampled for analysis."),
    _i("sidecar.capture.dropped", "counter", "{pair}", "Sampled pairs not analysed, by reason."),
    _i("sidecar.decode.errors", "counter", "{payload}", "Undecodable payloads."),
    _i("sidecar.capture.sampling_rate_ratio", "gauge", "1", "Effective sampling rate."),
    _i("sidecar.capture.queue_depth", "gauge", "{pair}", "Pairs waiting for analysis."),
    _i("sidecar.analysis.cpu_ratio", "gauge", "1", "Analysis CPU time per wall second."),
    _i("sidecar.feature.drift", "gauge", "", "Drift statistic, reference vs current window."),
    _i("sidecar.feature.drift_detected", "gauge", "", "1 when the feature's drift rule fires."),
    _i("sidecar.prediction.drift", "gauge", "", "Drift statistic of a model output."),
    _i("sidecar.prediction.drift_detected", "gauge", "", "1 when the output's rule fires."),
    _i("sidecar.dataset.drift_share_ratio", "gauge", "1", "Share of drifted features."),
    _i("sidecar.feature.rows", "gauge", "{row}", "Values of the feature in the window."),
    _i("sidecar.feature.quantile", "gauge", "", "Window quantiles of a numeric feature."),
    _i("sidecar.feature.unseen_ratio", "gauge", "1", "Share of categories unseen in reference."),
    _i("sidecar.feature.bin_rows", "counter", "{row}", "Rows per reference decile bin."),
    _i("sidecar.feature.reference_fraction", "gauge", "", "Reference share of each bin."),
    _i("sidecar.features.dropped", "counter", "{feature}", "Features over the export cap."),
    _i("sidecar.feature.quality_ratio", "gauge", "1", "Share of rows failing a quality check."),
    _i("sidecar.unexpected_features", "gauge", "{feature}", "Unexpected feature names."),
    _i("sidecar.payload_error_ratio", "gauge", "1", "Share of empty or undecodable payloads."),
    _i("sidecar.model.performance", "gauge", "", "Realised performance from labels."),
    _i("sidecar.model.estimated_accuracy_ratio", "gauge", "1", "Label-free accuracy estimate."),
    _i("sidecar.model.estimated_performance", "gauge", "", "Label-free performance estimate."),
    _i("sidecar.model.estimated_performance_bound", "gauge", "", "95% band of the estimate."),
    _i("sidecar.model.estimation_error", "gauge", "", "Estimate minus realised figure."),
    _i("sidecar.model.low_confidence_ratio", "gauge", "1", "Share of low-confidence rows."),
    _i("sidecar.model.labelled_rows", "gauge", "{row}", "Labelled rows in the window."),
    _i("sidecar.feedback.labels", "counter", "{label}", "Labels posted, by outcome."),
    _i("sidecar.prediction_store.entries", "gauge", "{prediction}", "Predictions held."),
    _i("sidecar.prediction_store.evictions", "counter", "{prediction}", "Evicted predictions."),
    _i("sidecar.fairness.group_rate_ratio", "gauge", "1", "Per-group rates."),
    _i("sidecar.fairness.gap", "gauge", "", "Fairness gaps between groups."),
    _i("sidecar.status", "gauge", "", "0 ok, 1 warning, 2 critical, -1 unknown."),
)


class AnalysisMetrics:
    """Builds the analysis points of a runtime, cached briefly across one collection."""

    def __init__(
        self,
        runtime: Runtime,
        export: FeatureExport,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.runtime = runtime
        self.export = export
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._points: Points = {}
        self._at = -float("inf")

    def points(self) -> Points:
        """The current points, recomputed when the cached ones are older than the cache time."""
        with self._lock:
            now = self.clock()
            if now - self._at >= self.cache_seconds:
                self._points = collect_points(self.runtime, self.export, now)
                self._at = now
            return self._points

    def callback(self, name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        """The observable callback serving instrument `name`."""

        def observe(options: CallbackOptions) -> Iterable[Observation]:
            return [Observation(v, dict(a)) for v, a in self.points().get(name, ())]

        return observe


def register_analysis_metrics(telemetry: Telemetry, runtime: Runtime) -> AnalysisMetrics:
    """Register the analysis instruments on `telemetry`'s meter provider."""
    policies = runtime.policies
    export = FeatureExport(
        max_features=int(runtime.settings.max_features),
        bin_features=policies.bin_features,
        allow=None if policies.metric_features is None else list(policies.metric_features),
    )
    runtime.monitor.feature_export = export
    metrics = AnalysisMetrics(runtime, export)
    meter = telemetry.provider.get_meter("sidecar.analysis", __version__)
    for instrument in INSTRUMENTS:
        create = (
            meter.create_observable_counter
            if instrument.kind == "counter"
            else meter.create_observable_gauge
        )
        create(
            instrument.name,
            [metrics.callback(instrument.name)],
            unit=instrument.unit,
            description=instrument.description,
        )
    return metrics
