"""Thresholds behind every status signal, with documented defaults.

`StatusThresholds` is a frozen value object built from the `status:` section of the config
(`StatusThresholds.from_mapping`); each field's default is the `DEFAULT_*` constant of the same
name. A signal is `warning` at or beyond its `*_warning` bound and `critical` at or beyond its
`*_critical` bound ("beyond" is "below" for figures where lower is worse). Shares are in [0, 1];
the `min_*` row counts make a signal `unknown` rather than noisy on thin windows.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from sidecar.feature_rates import CHECKS

log = logging.getLogger("sidecar.signals")

# Shares are in [0, 1]. Row minimums make a signal `unknown` rather than noisy on thin windows.

DEFAULT_MIN_ROWS = 100
DEFAULT_MIN_REQUESTS = 50
DEFAULT_MIN_LABELLED_ROWS = 50
DEFAULT_MISSING_WARNING = 0.05
DEFAULT_MISSING_CRITICAL = 0.20
DEFAULT_NAN_WARNING = 0.01
DEFAULT_NAN_CRITICAL = 0.10
DEFAULT_TYPE_MISMATCH_WARNING = 0.01
DEFAULT_TYPE_MISMATCH_CRITICAL = 0.10
DEFAULT_OUT_OF_RANGE_WARNING = 0.05
DEFAULT_OUT_OF_RANGE_CRITICAL = 0.20
DEFAULT_PAYLOAD_ERROR_WARNING = 0.01
DEFAULT_PAYLOAD_ERROR_CRITICAL = 0.05
DEFAULT_UNEXPECTED_FEATURES_WARNING = 1.0
"""Distinct unexpected feature names in a window that make a warning."""
DEFAULT_FEATURE_DRIFT_WARNING = 1.0
"""Drifted features that make a warning."""
DEFAULT_CLEAR_AFTER_SECONDS: float | None = None
"""A raised signal clears after this long clean; None: one window (`window_seconds`)."""
RETIRED = {
    "dataset_drift_warning": "dataset drift uses drift.dataset_share",
    "dataset_drift_critical": "dataset drift uses drift.dataset_share",
    "low_confidence_probability": "the one cut-off is performance.low_confidence",
}
"""Keys accepted and ignored, with what replaced them."""
DEFAULT_PREDICTION_DRIFT_CRITICAL = False
DEFAULT_COLLAPSE_TOP_SHARE_WARNING = 0.90
DEFAULT_COLLAPSE_TOP_SHARE_CRITICAL = 0.99
DEFAULT_COLLAPSE_STD_RATIO = 0.01
"""Numeric outputs collapse when their std falls to this share of the reference std."""
DEFAULT_COLLAPSE_STD_FLOOR = 1e-9
"""Absolute std floor used when the reference std is unknown or zero."""
DEFAULT_LOW_CONFIDENCE_WARNING = 0.20
DEFAULT_LOW_CONFIDENCE_CRITICAL = 0.50
DEFAULT_PERFORMANCE_WARNING_MARGIN = 0.02
DEFAULT_FAIRNESS_MIN_GROUP_ROWS = 30
DEFAULT_FAIRNESS_GAP_WARNING = 0.10
DEFAULT_FAIRNESS_GAP_CRITICAL = 0.20
DEFAULT_FAIRNESS_RATIO_WARNING = 0.80
"""The four-fifths rule for parity ratios."""
DEFAULT_FAIRNESS_RATIO_CRITICAL = 0.60
DEFAULT_UPSTREAM_5XX_WARNING = 0.01
DEFAULT_UPSTREAM_5XX_CRITICAL = 0.05
DEFAULT_UPSTREAM_TIMEOUT_WARNING = 0.005
DEFAULT_UPSTREAM_TIMEOUT_CRITICAL = 0.02
DEFAULT_LATENCY_QUANTILE = 0.99
DEFAULT_LATENCY_SLO_SECONDS = 0.5
DEFAULT_LATENCY_WARNING_FRACTION = 0.8
"""Warn when the latency quantile passes this share of the SLO."""
DEFAULT_SLO_TARGET = 0.999
DEFAULT_BURN_RATE_CRITICAL = 14.4
"""Google SRE workbook, ch. 5: 2% of a 30-day budget in 1 hour (page)."""
DEFAULT_BURN_RATE_WARNING = 6.0
"""Google SRE workbook, ch. 5: 5% of a 30-day budget in 6 hours."""
DEFAULT_CAPTURE_DROP_WARNING = 0.01
DEFAULT_CAPTURE_DROP_CRITICAL = 0.10
DEFAULT_DECODE_ERROR_WARNING = 0.01
DEFAULT_DECODE_ERROR_CRITICAL = 0.05
DEFAULT_QUEUE_SATURATION_WARNING = 0.80
DEFAULT_QUEUE_SATURATION_CRITICAL = 0.95
DEFAULT_ANALYSIS_CPU_WARNING = 0.95
"""Analysis CPU as a share of its cap: at the cap, the budget starts shedding samples."""

_COUNT_FIELDS = frozenset(
    {"min_rows", "min_requests", "min_labelled_rows", "fairness_min_group_rows"}
)
_UNBOUNDED_FIELDS = frozenset(
    {
        "unexpected_features_warning",
        "feature_drift_warning",
        "collapse_std_floor",
        "latency_slo_seconds",
        "burn_rate_critical",
        "burn_rate_warning",
        "performance_floor",
        "performance_warning_margin",
        "clear_after_seconds",
    }
)


@dataclass(frozen=True, slots=True)
class StatusThresholds:
    """Every bound a signal is judged against; defaults are the `DEFAULT_*` constants."""

    min_rows: int = DEFAULT_MIN_ROWS
    min_requests: int = DEFAULT_MIN_REQUESTS
    min_labelled_rows: int = DEFAULT_MIN_LABELLED_ROWS
    missing_warning: float = DEFAULT_MISSING_WARNING
    missing_critical: float = DEFAULT_MISSING_CRITICAL
    nan_warning: float = DEFAULT_NAN_WARNING
    nan_critical: float = DEFAULT_NAN_CRITICAL
    type_mismatch_warning: float = DEFAULT_TYPE_MISMATCH_WARNING
    type_mismatch_critical: float = DEFAULT_TYPE_MISMATCH_CRITICAL
    out_of_range_warning: float = DEFAULT_OUT_OF_RANGE_WARNING
    out_of_range_critical: float = DEFAULT_OUT_OF_RANGE_CRITICAL
    payload_error_warning: float = DEFAULT_PAYLOAD_ERROR_WARNING
    payload_error_critical: float = DEFAULT_PAYLOAD_ERROR_CRITICAL
    unexpected_features_warning: float = DEFAULT_UNEXPECTED_FEATURES_WARNING
    feature_drift_warning: float = DEFAULT_FEATURE_DRIFT_WARNING
    prediction_drift_critical: bool = DEFAULT_PREDICTION_DRIFT_CRITICAL
    collapse_top_share_warning: float = DEFAULT_COLLAPSE_TOP_SHARE_WARNING
    collapse_top_share_critical: float = DEFAULT_COLLAPSE_TOP_SHARE_CRITICAL
    collapse_std_ratio: float = DEFAULT_COLLAPSE_STD_RATIO
    collapse_std_floor: float = DEFAULT_COLLAPSE_STD_FLOOR
    low_confidence_warning: float = DEFAULT_LOW_CONFIDENCE_WARNING
    low_confidence_critical: float = DEFAULT_LOW_CONFIDENCE_CRITICAL
    performance_floor: float | None = None
    """Worst acceptable figure of the performance metric; None disables the signal."""
    performance_warning_margin: float = DEFAULT_PERFORMANCE_WARNING_MARGIN
    fairness_min_group_rows: int = DEFAULT_FAIRNESS_MIN_GROUP_ROWS
    fairness_gap_warning: float = DEFAULT_FAIRNESS_GAP_WARNING
    fairness_gap_critical: float = DEFAULT_FAIRNESS_GAP_CRITICAL
    fairness_ratio_warning: float = DEFAULT_FAIRNESS_RATIO_WARNING
    fairness_ratio_critical: float = DEFAULT_FAIRNESS_RATIO_CRITICAL
    upstream_5xx_warning: float = DEFAULT_UPSTREAM_5XX_WARNING
    upstream_5xx_critical: float = DEFAULT_UPSTREAM_5XX_CRITICAL
    upstream_timeout_warning: float = DEFAULT_UPSTREAM_TIMEOUT_WARNING
    upstream_timeout_critical: float = DEFAULT_UPSTREAM_TIMEOUT_CRITICAL
    latency_quantile: float = DEFAULT_LATENCY_QUANTILE
    latency_slo_seconds: float = DEFAULT_LATENCY_SLO_SECONDS
    latency_warning_fraction: float = DEFAULT_LATENCY_WARNING_FRACTION
    slo_target: float = DEFAULT_SLO_TARGET
    burn_rate_warning: float = DEFAULT_BURN_RATE_WARNING
    burn_rate_critical: float = DEFAULT_BURN_RATE_CRITICAL
    capture_drop_warning: float = DEFAULT_CAPTURE_DROP_WARNING
    capture_drop_critical: float = DEFAULT_CAPTURE_DROP_CRITICAL
    decode_error_warning: float = DEFAULT_DECODE_ERROR_WARNING
    decode_error_critical: float = DEFAULT_DECODE_ERROR_CRITICAL
    queue_saturation_warning: float = DEFAULT_QUEUE_SATURATION_WARNING
    queue_saturation_critical: float = DEFAULT_QUEUE_SATURATION_CRITICAL
    analysis_cpu_warning: float = DEFAULT_ANALYSIS_CPU_WARNING
    clear_after_seconds: float | None = DEFAULT_CLEAR_AFTER_SECONDS
    """Hysteresis: seconds clean before a raised signal clears; None means window_seconds."""

    def __post_init__(self) -> None:
        for f in fields(self):
            _check_threshold(f.name, getattr(self, f.name))
        if not 0.0 < self.slo_target < 1.0:
            raise ValueError(f"slo_target={self.slo_target!r} must be in (0, 1)")
        if not 0.0 < self.latency_quantile < 1.0:
            raise ValueError(f"latency_quantile={self.latency_quantile!r} must be in (0, 1)")

    def quality_bounds(self, check: str) -> tuple[float, float]:
        """(warning, critical) for one data quality check."""
        if check not in CHECKS:
            raise ValueError(f"unknown quality check {check!r}; expected one of {CHECKS}")
        warning: float = getattr(self, f"{check}_warning")
        critical: float = getattr(self, f"{check}_critical")
        return warning, critical

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> StatusThresholds:
        """Thresholds from a config section (`status:` in YAML); unknown keys are errors."""
        known = {f.name: f for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, raw in values.items():
            if key in RETIRED:
                log.warning("status.%s is ignored: %s", key, RETIRED[key])
                continue
            if key not in known:
                raise ValueError(f"status.{key}={raw!r} is not a known threshold")
            kwargs[key] = _convert(key, raw)
        return cls(**kwargs)


def _convert(key: str, raw: Any) -> Any:
    if key == "prediction_drift_critical":
        if not isinstance(raw, bool):
            raise ValueError(f"status.{key}={raw!r} is not a boolean")
        return raw
    if raw is None and key in ("performance_floor", "clear_after_seconds"):
        return None
    try:
        return int(raw) if key in _COUNT_FIELDS else float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"status.{key}={raw!r} is not a number") from None


def _check_threshold(name: str, value: Any) -> None:
    if value is None or isinstance(value, bool):
        return
    if not math.isfinite(value):
        raise ValueError(f"threshold {name}={value!r} is not finite")
    if name in _COUNT_FIELDS:
        if value < 0:
            raise ValueError(f"threshold {name}={value!r} must be >= 0")
    elif name not in _UNBOUNDED_FIELDS and not 0.0 <= value <= 1.0:
        raise ValueError(f"threshold {name}={value!r} is not a share in [0, 1]")
    elif value < 0 and name != "performance_floor":
        raise ValueError(f"threshold {name}={value!r} must be >= 0")
