"""Analysis metrics: drift, quality, performance, fairness, capture and status as instruments.

Process counters are observable instruments on the sidecar's meter provider; the window figures
are SDK metrics built ready-made once per set of figures and added to every collection of both
readers (`FastHistograms.add_scope`), which costs a fifth of the SDK's callback path per series.
Both read two caches:
- counters (capture, decode errors, feedback, prediction store): cheap, re-read when older than
  `DEFAULT_CACHE_SECONDS` (0.5 s), so the ~30 callbacks of one collection read them once;
- window figures (a drift, quality and outcome report per model, and the status): computed by
  `WindowPointsRefresher` in a thread of its own, never on the event loop and never by more than
  one thread at once. A collection that finds them older than 0.5 s asks for a new set and
  waits for it at most `DEFAULT_WAIT_SECONDS` (0.5 s), then serves the last complete set;
  `sidecar.analysis.report_age` says how old the served set is. A new set starts no sooner than
  the last one took to compute after it finished, so this work uses at most half a core even
  when a report takes seconds (40 models x 13,000 features): a scrape stays well under the SDK's
  10 s collection timeout whatever the state's size.

Window figures describe the **current window**; names, labels and meanings are catalogued in
docs/metrics.md.

Cardinality: per model (at most 16, see `sidecar.monitor`) at most `max_features` features
(`sidecar.export.features`), label values cut to `MAX_LABEL_LENGTH` (128) printable characters,
so the series count is bounded by 16 * max_features * (12 bins + ~20 per-feature series) plus a
few hundred model- and process-level series.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    Metric,
    NumberDataPoint,
    Sum,
)

from sidecar import __version__
from sidecar.export.exposition import FamiliesCollector, Family, Spec, encode, probe_families
from sidecar.export.points import (
    Attributes,
    ExportSources,
    Points,
    counter_points,
    window_points,
)

if TYPE_CHECKING:
    from sidecar.export.telemetry import Telemetry

log = logging.getLogger("sidecar.export")

DEFAULT_CACHE_SECONDS = 0.5
DEFAULT_WAIT_SECONDS = 0.5


@dataclass(frozen=True)
class Instrument:
    """One analysis instrument: OpenTelemetry name, kind, unit and description."""

    name: str
    kind: str
    unit: str
    description: str

    @property
    def injected(self) -> bool:
        """Built ready-made per set of points (gauges, the window's counters), not by the SDK."""
        return self.kind == "gauge" or self.name in WINDOW_COUNTERS


WINDOW_COUNTERS = frozenset({"sidecar.feature.bin_rows", "sidecar.features.dropped"})
"""Counters the window figures carry (cumulative since start, like the fast histograms)."""


def _i(name: str, kind: str, unit: str, description: str) -> Instrument:
    return Instrument(name, kind, unit, description)


INSTRUMENTS: tuple[Instrument, ...] = (
    _i("sidecar.capture.requests", "counter", "{request}", "Requests seen by capture."),
    _i("sidecar.capture.sampled", "counter", "{request}", "Requests sampled for analysis."),
    _i("sidecar.capture.dropped", "counter", "{pair}", "Sampled pairs not analysed, by reason."),
    _i("sidecar.decode.errors", "counter", "{payload}", "Undecodable payloads."),
    _i("sidecar.model_metadata.fetches", "counter", "{fetch}", "Model metadata fetches."),
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
    _i("sidecar.analysis.report_age", "gauge", "s", "Age of the window figures served."),
)


class WindowPointsRefresher:
    """Computes the window points in its own thread, on demand, at most half of the time."""

    def __init__(
        self,
        compute: Callable[[float], Points],
        clock: Callable[[], float] = time.time,
        wait_seconds: float = DEFAULT_WAIT_SECONDS,
    ) -> None:
        self._compute = compute
        self._clock = clock
        self._wait = wait_seconds
        self._cond = threading.Condition()
        self._points: Points = {}
        self._at = -float("inf")
        self._wanted = False
        self._deadline = 0.0
        self._not_before = 0.0
        self._thread: threading.Thread | None = None
        self._stopped = False

    def get(self, max_age: float) -> tuple[Points, float]:
        """The newest complete points and their time; asks for new ones when older than max_age."""
        with self._cond:
            now = self._clock()
            if now - self._at < max_age:
                return self._points, self._at
            if not self._wanted:
                self._wanted = True
                self._deadline = now + self._wait
                self._start()
                self._cond.notify_all()
            # Every caller of one collection waits for the same deadline, not 0.5 s each.
            while self._wanted and not self._stopped:
                left = self._deadline - self._clock()
                if left <= 0:
                    break
                self._cond.wait(left)
            return self._points, self._at

    def stop(self) -> None:
        """Stop the thread (it finishes the set it is computing, if any)."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sidecar-metrics", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._wanted and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                pause = self._not_before - self._clock()
            if pause > 0:
                time.sleep(pause)
            started = self._clock()
            try:
                points = self._compute(started)
            except Exception:  # a failed report never fails a scrape: the last set stays
                log.exception("computing the window metrics failed")
                points = None
            finished = self._clock()
            with self._cond:
                if points is not None:
                    self._points, self._at = points, started
                self._wanted = False
                self._not_before = finished + (finished - started)
                self._cond.notify_all()


class AnalysisMetrics:
    """Serves the analysis points of a sidecar's sources to the instrument callbacks."""

    def __init__(
        self,
        sources: ExportSources,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        clock: Callable[[], float] = time.time,
        wait_seconds: float = DEFAULT_WAIT_SECONDS,
    ) -> None:
        self.sources = sources
        self.cache_seconds = cache_seconds
        self.clock = clock
        self.windows = WindowPointsRefresher(
            lambda now: window_points(sources, now), clock, wait_seconds
        )
        self._lock = threading.Lock()
        self._points: Points = {}
        self._at = -float("inf")
        self.start_ns = time.time_ns()
        """Start of the cumulative counters (as an SDK observable counter's)."""
        self._built: list[Metric] = []
        self._built_from: Points | None = None
        injected = [i for i in INSTRUMENTS if i.injected]
        probed = probe_families(
            tuple(Spec(i.name, i.kind, i.unit, i.description) for i in injected)
        )
        self.families: Mapping[str, Family] = {i.name: probed[i.name] for i in injected}
        """The Prometheus family of each injected instrument, in `INSTRUMENTS` order."""
        self._texts: dict[bool, str] = {}
        self._text_from: Points | None = None

    def points(self) -> Points:
        """The current points: fresh counters, and the newest complete window figures."""
        with self._lock:
            now = self.clock()
            if now - self._at >= self.cache_seconds:
                windows, at = self.windows.get(self.cache_seconds)
                no_labels: Attributes = {}
                age = [(max(0.0, now - at), no_labels)] if at > -float("inf") else []
                self._points = {
                    **windows,
                    **counter_points(self.sources),
                    "sidecar.analysis.report_age": age,
                }
                self._at = now
            return self._points

    def metrics(self, now_ns: int) -> list[Metric]:
        """The SDK metric of every instrument with points (a collection's analysis scope).

        Built here rather than through observable instruments: the SDK's callback path (an
        `Observation`, a `Measurement`, attribute hashing and an aggregation per point) cost
        about 45 us a series, 0.5 s per scrape of 11,500 series. The metrics of one set of
        points are built once and reused until the points change.
        """
        points = self.points()
        with self._lock:
            if points is not self._built_from:
                self._built = [
                    metric
                    for instrument in INSTRUMENTS
                    if instrument.injected
                    and (metric := self._metric(instrument, points.get(instrument.name), now_ns))
                    is not None
                ]
                self._built_from = points
            return self._built

    def text(self, openmetrics: bool) -> str:
        """The Prometheus text of the injected figures, once per set of points and format."""
        points = self.points()
        with self._lock:
            if points is not self._text_from:
                self._texts, self._text_from = {}, points
            found = self._texts.get(openmetrics)
            if found is None:
                found = self._texts[openmetrics] = encode(points, self.families, openmetrics)
            return found

    def _metric(
        self, instrument: Instrument, points: Sequence[tuple[float, Attributes]] | None, now: int
    ) -> Metric | None:
        """One instrument's points as the SDK metric its observable instrument would collect."""
        if not points:
            return None
        name, description, unit = instrument.name, instrument.description, instrument.unit
        if instrument.kind == "counter":
            counts = [NumberDataPoint(a, self.start_ns, now, v) for v, a in points]
            total = Sum(counts, AggregationTemporality.CUMULATIVE, is_monotonic=True)
            return Metric(name, description, unit, total)
        # As the SDK's own gauges: no start time.
        values = [NumberDataPoint(a, None, now, v) for v, a in points]  # type: ignore[arg-type]
        return Metric(name, description, unit, Gauge(values))

    def callback(self, name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        """The observable callback serving the SDK instrument `name`."""

        def observe(options: CallbackOptions) -> Iterable[Observation]:
            return [Observation(v, dict(a)) for v, a in self.points().get(name, ())]

        return observe

    def stop(self) -> None:
        """Stop computing window figures."""
        self.windows.stop()


def register_analysis_metrics(telemetry: Telemetry, sources: ExportSources) -> AnalysisMetrics:
    """The analysis metrics (scope `sidecar.analysis`) in every collection of `telemetry`.

    Process counters are SDK observable counters (OTLP exports them in the temporality its
    exporter prefers); the window figures are injected ready-made (`AnalysisMetrics.metrics`).
    """
    metrics = AnalysisMetrics(sources)
    meter = telemetry.provider.get_meter("sidecar.analysis", __version__)
    for instrument in INSTRUMENTS:
        if not instrument.injected:
            meter.create_observable_counter(
                instrument.name,
                [metrics.callback(instrument.name)],
                unit=instrument.unit,
                description=instrument.description,
            )
    telemetry.fast.add_scope("sidecar.analysis", __version__, metrics.metrics)
    telemetry.add_text(metrics.text, FamiliesCollector(metrics.points, metrics.families))
    return metrics
