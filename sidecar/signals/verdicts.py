"""Failure signals: pure verdicts over small window figures, and the status report they make.

Each signal function takes a few counts or rates and a `StatusThresholds`, and returns a
`Signal(name, verdict, value, threshold, detail)`. The verdict is `unknown` when the window is
too thin to judge (fewer rows, requests or labels than the `min_*` thresholds), else `ok`,
`warning` or `critical`. `threshold` is the bound the value was judged against: the critical
bound when critical, the warning bound otherwise. `overall_status` is the worst verdict, and
`unknown` only when every signal is unknown.

Upstream, latency and error-budget signals live in `sidecar.signals.slo`. Everything here is O(1) in
memory except `feature_drift`, whose detail names at most `DEFAULT_MAX_NAMES_IN_DETAIL` features.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sidecar.drift import DriftReport
from sidecar.feature_rates import CHECKS
from sidecar.quality import QualityReport
from sidecar.signals.thresholds import StatusThresholds

Verdict = Literal["ok", "warning", "critical", "unknown"]
VERDICTS: tuple[Verdict, ...] = ("ok", "warning", "critical", "unknown")

VERDICT_GAUGE: dict[str, int] = {"ok": 0, "warning": 1, "critical": 2, "unknown": -1}
"""Value of the `sidecar_status{signal}` gauge for each verdict."""

DEFAULT_MAX_NAMES_IN_DETAIL = 10
"""At most this many feature or output names are spelled out in a signal's detail."""

__all__ = [
    "SEVERITY",
    "VERDICTS",
    "VERDICT_GAUGE",
    "VERDICT_OF_SEVERITY",
    "Signal",
    "StatusReport",
    "StatusThresholds",
    "Verdict",
    "against_floor",
    "dataset_drift",
    "fairness",
    "feature_drift",
    "grade",
    "overall_status",
    "prediction_collapse",
    "prediction_drift",
    "quality_signals",
    "unknown",
]

SEVERITY: dict[str, int] = {"unknown": -1, "ok": 0, "warning": 1, "critical": 2}
"""Order of the verdicts (the `sidecar_status` gauge's values)."""
VERDICT_OF_SEVERITY: dict[int, Verdict] = {-1: "unknown", 0: "ok", 1: "warning", 2: "critical"}


@dataclass(frozen=True, slots=True)
class Signal:
    """One verdict with the figure and the threshold behind it."""

    name: str
    verdict: Verdict
    value: float | None
    threshold: float | None
    detail: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"signal {self.name!r}: verdict {self.verdict!r} not in {VERDICTS}")

    def to_json(self) -> dict[str, Any]:
        """`{"name", "status", "value", "threshold", "detail"}` with JSON-safe numbers."""
        return {
            "name": self.name,
            "status": self.verdict,
            "value": _json_number(self.value),
            "threshold": _json_number(self.threshold),
            "detail": self.detail,
        }


def _json_number(x: float | None) -> float | None:
    # JSON has no NaN or infinity; a non-finite figure is reported as null.
    return x if x is not None and math.isfinite(x) else None


def overall_status(signals: Iterable[Signal]) -> Verdict:
    """The worst verdict; `unknown` only when there are no signals or all are unknown."""
    worst: Verdict = "unknown"
    for signal in signals:
        if SEVERITY[signal.verdict] > SEVERITY[worst]:
            worst = signal.verdict
    return worst


@dataclass(frozen=True, slots=True)
class StatusReport:
    """All signals at one moment (`generated_at`, Unix seconds) and their overall verdict."""

    signals: tuple[Signal, ...]
    generated_at: float

    @property
    def status(self) -> Verdict:
        """The overall verdict."""
        return overall_status(self.signals)

    def to_json(self) -> dict[str, Any]:
        """`{"status", "signals": [...], "generated_at": iso8601}` as `/api/v1/status` serves."""
        stamp = datetime.fromtimestamp(self.generated_at, tz=UTC).isoformat()
        return {
            "status": self.status,
            "signals": [s.to_json() for s in self.signals],
            "generated_at": stamp.replace("+00:00", "Z"),
        }


def grade(
    name: str,
    value: float,
    warning: float | None,
    critical: float | None,
    detail: str = "",
    lower_is_worse: bool = False,
) -> Signal:
    """A signal judged against warning and critical bounds (either may be None: never)."""
    sign = -1.0 if lower_is_worse else 1.0
    if critical is not None and sign * value >= sign * critical:
        return Signal(name, "critical", value, critical, detail)
    if warning is not None and sign * value >= sign * warning:
        return Signal(name, "warning", value, warning, detail)
    return Signal(name, "ok", value, warning if warning is not None else critical, detail)


def unknown(name: str, detail: str, threshold: float | None = None) -> Signal:
    """A signal with too little data to judge."""
    return Signal(name, "unknown", None, threshold, detail)


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:DEFAULT_MAX_NAMES_IN_DETAIL])
    more = len(names) - DEFAULT_MAX_NAMES_IN_DETAIL
    return shown + (f" and {more} more" if more > 0 else "")


def _ratio(part: int, whole: int, part_name: str, whole_name: str) -> float:
    if part < 0 or whole < 0 or part > whole:
        raise ValueError(f"need 0 <= {part_name}={part!r} <= {whole_name}={whole!r}")
    return part / whole


# Data quality -------------------------------------------------------------------------------


def quality_signals(report: QualityReport, t: StatusThresholds) -> list[Signal]:
    """One signal per quality check (worst feature), plus unexpected, payload and batch size."""
    signals = [_check_signal(report, check, t) for check in CHECKS]
    unexpected = report.unexpected_count
    signals.append(
        grade(
            "data_quality_unexpected_features",
            float(unexpected),
            t.unexpected_features_warning,
            None,
            f"unexpected features: {_names(report.unexpected_features)}" if unexpected else "",
        )
    )
    name = "data_quality_payload_errors"
    if report.requests < t.min_requests or report.payload_error_rate is None:
        signals.append(unknown(name, f"{report.requests} payloads", t.payload_error_warning))
    else:
        signals.append(
            grade(
                name, report.payload_error_rate, t.payload_error_warning, t.payload_error_critical
            )
        )
    signals.append(_rows_per_request_signal(report))
    return signals


def _check_signal(report: QualityReport, check: str, t: StatusThresholds) -> Signal:
    name = f"data_quality_{check}"
    warning, critical = t.quality_bounds(check)
    worst = report.worst(check)
    if report.rows < t.min_rows or worst is None:
        return unknown(name, f"{report.rows} rows in window (need {t.min_rows})", warning)
    feature, rate = worst
    return grade(name, rate, warning, critical, f"worst feature {feature!r}: {rate:.2%}")


def _rows_per_request_signal(report: QualityReport) -> Signal:
    name = "data_quality_rows_per_request"
    rpr = report.rows_per_request
    if rpr.outside is None or rpr.expected is None:
        return unknown(name, "no usual range of rows per request yet")
    detail = f"rows per request in [{rpr.minimum}, {rpr.maximum}], usual {list(rpr.expected)}"
    value = float(rpr.maximum if rpr.maximum is not None else 0)
    if rpr.outside:
        return Signal(name, "warning", value, rpr.expected[1], detail)
    return Signal(name, "ok", value, rpr.expected[1], detail)


# Drift ----------------------------------------------------------------------------------------


def feature_drift(drifted: Sequence[str], n_features: int, t: StatusThresholds) -> Signal:
    """Warning when at least `feature_drift_warning` features drifted."""
    name = "feature_drift"
    if n_features <= 0:
        return unknown(name, "no feature had enough rows to test", t.feature_drift_warning)
    if len(drifted) > n_features:
        raise ValueError(f"{len(drifted)} drifted features but only n_features={n_features!r}")
    detail = f"{len(drifted)} of {n_features} drifted" + (
        f": {_names(sorted(drifted))}" if drifted else ""
    )
    return grade(name, float(len(drifted)), t.feature_drift_warning, None, detail)


def dataset_drift(report: DriftReport, t: StatusThresholds) -> Signal:
    """The drift report's dataset verdict (one threshold, `drift.dataset_share`): critical."""
    name = "dataset_drift"
    share, threshold = report.share, report.threshold
    if share is None or report.drift is None or report.total <= 0:
        return unknown(name, "no feature had enough rows to test", threshold)
    detail = (
        f"{report.drifted} of {report.total} features drifted ({share:.0%}; dataset drift at "
        f">= {report.required})"
    )
    return Signal(name, "critical" if report.drift else "ok", share, threshold, detail)


def prediction_drift(drifted: Sequence[str], n_outputs: int, t: StatusThresholds) -> Signal:
    """Warning (or critical, if so configured) when any model output drifted."""
    name = "prediction_drift"
    if n_outputs <= 0:
        return unknown(name, "no output had enough rows to test", 1.0)
    detail = f"drifted outputs: {_names(sorted(drifted))}" if drifted else ""
    critical = 1.0 if t.prediction_drift_critical else None
    return grade(name, float(len(drifted)), 1.0, critical, detail)


# Model outputs --------------------------------------------------------------------------------


def prediction_collapse(
    rows: int,
    top_class_share: float | None,
    std: float | None,
    t: StatusThresholds,
    reference_std: float | None = None,
) -> Signal:
    """Collapse: one class takes (nearly) every prediction, or numeric predictions stop varying.

    A class label output passes `top_class_share`; a numeric output passes `std` and, when
    the reference profile has one, `reference_std` (collapse is then relative to it).
    """
    name = "prediction_collapse"
    if rows < t.min_rows:
        return unknown(name, f"{rows} predictions in window (need {t.min_rows})")
    if top_class_share is not None:
        detail = f"most frequent class takes {top_class_share:.1%} of {rows} predictions"
        return grade(
            name,
            top_class_share,
            t.collapse_top_share_warning,
            t.collapse_top_share_critical,
            detail,
        )
    if std is None:
        return unknown(name, "no class share or standard deviation for the output")
    if reference_std is not None and reference_std > 0:
        floor = t.collapse_std_ratio * reference_std
    else:
        floor = t.collapse_std_floor
    detail = f"prediction std {std:.3g} over {rows} rows (collapse at <= {floor:.3g})"
    return grade(name, std, None, floor, detail, lower_is_worse=True)


LOWER_IS_BETTER = frozenset({"log_loss", "brier", "mae", "rmse", "mape"})
"""Performance metrics where a higher figure is worse: the configured floor acts as a ceiling."""


def against_floor(
    metric: str, value: float, t: StatusThresholds, floor: float, detail: str
) -> Signal:
    """The performance verdict: critical beyond the floor, warning within the margin of it."""
    worse_high = metric in LOWER_IS_BETTER
    margin = t.performance_warning_margin
    warning = floor - margin if worse_high else floor + margin
    return grade("performance", value, warning, floor, detail, lower_is_worse=not worse_high)


def fairness(metric: str, value: float | None, smallest_group: int, t: StatusThresholds) -> Signal:
    """A fairness gap above its bound (or a parity ratio below its bound)."""
    name = "fairness"
    if value is None or smallest_group < t.fairness_min_group_rows:
        need = t.fairness_min_group_rows
        return unknown(name, f"smallest group has {smallest_group} rows (need {need})")
    detail = f"{metric} {value:.3g}"
    if metric.endswith("_ratio"):
        warning, critical = t.fairness_ratio_warning, t.fairness_ratio_critical
        return grade(name, value, warning, critical, detail, lower_is_worse=True)
    return grade(name, value, t.fairness_gap_warning, t.fairness_gap_critical, detail)
