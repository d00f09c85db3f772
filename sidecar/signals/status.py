"""The status report: one verdict per signal over the sliding window and the last hour.

Signals come from `sidecar.signals.verdicts` and `sidecar.signals.slo`; this module only gathers
their inputs from the running sidecar (monitor windows, outcome windows, request stats, capture
counters). Drift signals read the drift report's verdicts (`sidecar.reports.drift_of`), so they
are the verdicts `/api/v1/drift` and the drift gauges show. Every signal then passes the
sources' latch (`sidecar.signals.hysteresis`): a raised signal clears only after
`status.clear_after_seconds` (default one window) clean, its detail saying so meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from sidecar import reports
from sidecar.analysis import AnalysisWorker
from sidecar.capture import Capture
from sidecar.monitor import Monitor
from sidecar.signals import slo
from sidecar.signals import verdicts as signals
from sidecar.signals.hysteresis import Latch
from sidecar.signals.performance import confidence_signal, performance_signal
from sidecar.signals.thresholds import StatusThresholds
from sidecar.signals.traffic import RequestStats
from sidecar.signals.verdicts import Signal, StatusReport
from sidecar.sketches.column import CategoricalColumnSketch, NumericColumnSketch

FAIRNESS_METRIC = "demographic_parity_difference"


@dataclass
class StatusSources:
    """What the status report reads."""

    monitor: Monitor
    stats: RequestStats
    capture: Capture
    worker: AnalysisWorker
    cpu_cap: float
    policy: reports.ReportPolicy = field(default_factory=reports.ReportPolicy)
    """What the model reports judge with (drift policy, fairness attributes)."""
    thresholds: StatusThresholds = field(default_factory=StatusThresholds)
    """The status thresholds (`status:` in the config)."""
    latch: Latch | None = field(default=None)
    """Holds raised signals; made from `status.clear_after_seconds` on first use when None."""

    def signal_latch(self) -> Latch:
        """The latch the status signals pass (one per sources, so one per sidecar)."""
        if self.latch is None:
            hold = self.thresholds.clear_after_seconds
            self.latch = Latch(self.monitor.options.window_seconds if hold is None else hold)
        return self.latch


def _model_signals(
    monitor: Monitor,
    policy: reports.ReportPolicy,
    t: StatusThresholds,
    now: float,
    which: str,
    computed: reports.ModelReports | None,
) -> list[Signal]:
    if computed is None:
        try:
            # One copy of the window serves drift, quality and collapse.
            computed = reports.model_reports(monitor, policy, None, which, now)
        except reports.UnknownModel:
            return [signals.unknown("model", "no sampled traffic yet")]
    view, drift, quality, outcome = (
        computed.view,
        computed.drift,
        computed.quality,
        computed.outcome,
    )
    found = [
        *signals.quality_signals(quality, t),
        signals.feature_drift(drift.drifted_names(), drift.tested(), t),
        signals.dataset_drift(drift, t),
        signals.prediction_drift(
            drift.drifted_names("predictions"), drift.tested("predictions"), t
        ),
        _collapse(view, t),
    ]
    found += [confidence_signal(outcome.performance, t), performance_signal(outcome.performance, t)]
    if outcome.fairness is not None and outcome.fairness.attributes:
        gaps = [
            (a.demographic_parity_difference, min((g.rows for g in a.groups), default=0))
            for a in outcome.fairness.attributes
        ]
        value, smallest = max(gaps, key=lambda gap: gap[0] if gap[0] is not None else -1.0)
        found.append(signals.fairness(FAIRNESS_METRIC, value, smallest, t))
    return found


def _collapse(view: reports.WindowView, t: StatusThresholds) -> Signal:
    sketch = view.snapshot.predictions.get("prediction")
    reference = view.reference
    if isinstance(sketch, CategoricalColumnSketch):
        counts = sketch.counts
        top = max(
            [
                int(counts.counts.max()) if len(counts.counts) else 0,
                *(n for _, n in counts.new.top(1)),
            ]
        )
        rows = counts.total
        return signals.prediction_collapse(rows, top / rows if rows else None, None, t)
    if isinstance(sketch, NumericColumnSketch):
        profile = reference.predictions.get("prediction") if reference is not None else None
        ref_std = profile.std if profile is not None else None
        rows = sketch.moments.count
        return signals.prediction_collapse(rows, None, sketch.moments.std, t, ref_std)
    return signals.unknown("prediction_collapse", "no decoded prediction column")


def _traffic_signals(sources: StatusSources, t: StatusThresholds, now: float) -> list[Signal]:
    stats = sources.stats
    short, hour = stats.span(now, 300), stats.span(now, 3600)
    capture = sources.capture
    dropped = sum(capture.dropped.values())
    counters = sources.monitor.counters()
    decode_errors = sum(counters.decode_errors.values())
    analysed = counters.analysed
    return [
        slo.upstream_errors(short.total, short.errors_5xx, t),
        slo.upstream_timeouts(short.total, short.timeouts, t),
        slo.latency_slo(stats.bounds, short.latency_counts, t),
        slo.error_budget_burn(short.total, short.errors_5xx, hour.total, hour.errors_5xx, t),
        slo.capture_drops(capture.sampled, dropped, t),
        slo.decode_errors(analysed, decode_errors, t),
        slo.queue_saturation(capture.depth, capture.queue_size, t),
        slo.analysis_cpu(sources.worker.cpu_share, sources.cpu_cap, t),
    ]


def status_report(
    sources: StatusSources,
    now: float,
    which: str = "current",
    computed: reports.ModelReports | None = None,
) -> StatusReport:
    """Every signal's verdict, and the overall one; model signals over the window `which`.

    `computed`, when given, must be the busiest model's reports over `which` at `now`; the
    caller that already has them (the metrics collection) saves computing them twice.
    """
    t = sources.thresholds
    reports.check_view(which)
    found = _model_signals(sources.monitor, sources.policy, t, now, which, computed)
    found += _traffic_signals(sources, t, now)
    if which == "current":
        latch = sources.signal_latch()
        found = [_held(latch, signal, now) for signal in found]
    return StatusReport(tuple(found), generated_at=now)


def _held(latch: Latch, signal: Signal, now: float) -> Signal:
    """The signal at its held verdict (its live figure and detail, and why it is held)."""
    held = latch.hold(signal.name, signals.SEVERITY[signal.verdict], now)
    if held.held_for is None:
        return signal
    verdict = signals.VERDICT_OF_SEVERITY[held.level]
    detail = (
        f"held {verdict}: raised {held.held_for:.0f} s ago, clears after "
        f"{latch.clear_after:g} s clean; now {signal.verdict}"
        + (f" ({signal.detail})" if signal.detail else "")
    )
    return replace(signal, verdict=verdict, detail=detail)
