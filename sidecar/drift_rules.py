"""Drift rules: which statistic decides a column's drift, its threshold, and the policy around it.

`DriftPolicy` holds one rule per kind (numeric: normalised Wasserstein > 0.1; categorical:
Jensen-Shannon > 0.1; "psi" > 0.2 is the usual alternative; for "ks_pvalue" and "chi2_pvalue"
drift is p < threshold), per-column overrides, the minimum window count (`min_samples`, 100),
the dataset share (0.5) and the per-window false-alarm rate the null quantiles are drawn at
(0.001). Validated on construction, so a bad config names the column, method or value.
`sidecar.drift` applies it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sidecar import nulls

DEFAULT_NUMERIC_METHOD = "wasserstein"
DEFAULT_NUMERIC_THRESHOLD = 0.1
DEFAULT_CATEGORICAL_METHOD = "js"
DEFAULT_CATEGORICAL_THRESHOLD = 0.1
DEFAULT_PSI_THRESHOLD = 0.2
DEFAULT_MIN_SAMPLES = 100
DEFAULT_DATASET_SHARE = 0.5
DEFAULT_FALSE_ALARM_RATE = nulls.DEFAULT_FALSE_ALARM_RATE
NUMERIC_STATISTICS = ("psi", "ks", "ks_pvalue", "js", "wasserstein", "hellinger")
CATEGORICAL_STATISTICS = ("psi", "js", "hellinger", "chi2_pvalue")
PVALUE_METHODS = frozenset({"ks_pvalue", "chi2_pvalue"})


@dataclass(frozen=True)
class DriftRule:
    """Which statistic decides drift, and its threshold."""

    method: str
    threshold: float

    def fires(self, value: Any) -> Any:
        """Whether the statistic passes the effect-size threshold (elementwise; None if unknown)."""
        if value is None:
            return None
        return value < self.threshold if self.method in PVALUE_METHODS else value > self.threshold


@dataclass(frozen=True)
class DriftPolicy:
    """Drift rules per kind, per-column overrides, minimum sample and dataset share."""

    numeric: DriftRule = DriftRule(DEFAULT_NUMERIC_METHOD, DEFAULT_NUMERIC_THRESHOLD)
    categorical: DriftRule = DriftRule(DEFAULT_CATEGORICAL_METHOD, DEFAULT_CATEGORICAL_THRESHOLD)
    overrides: Mapping[str, DriftRule] = field(default_factory=dict)
    min_samples: int = DEFAULT_MIN_SAMPLES
    dataset_share: float = DEFAULT_DATASET_SHARE
    false_alarm_rate: float = DEFAULT_FALSE_ALARM_RATE

    def __post_init__(self) -> None:
        if self.min_samples < 1:
            raise ValueError(f"min_samples={self.min_samples!r} must be >= 1")
        if not 0.0 < self.false_alarm_rate < 0.5:
            raise ValueError(f"false_alarm_rate={self.false_alarm_rate!r} must be in (0, 0.5)")
        if not 0.0 < self.dataset_share <= 1.0:
            raise ValueError(f"dataset_share={self.dataset_share!r} must be in (0, 1]")
        for name, rule in (("numeric", self.numeric), ("categorical", self.categorical)):
            _check_rule(
                name, rule, NUMERIC_STATISTICS if name == "numeric" else CATEGORICAL_STATISTICS
            )
        for column, rule in self.overrides.items():
            _check_rule(column, rule, NUMERIC_STATISTICS + CATEGORICAL_STATISTICS)

    def rule_for(self, column: str, kind: str) -> DriftRule:
        """The rule for a column: its override, else its kind's default."""
        default = self.numeric if kind == "numeric" else self.categorical
        rule = self.overrides.get(column, default)
        allowed = NUMERIC_STATISTICS if kind == "numeric" else CATEGORICAL_STATISTICS
        return rule if rule.method in allowed else default


def _check_rule(name: str, rule: DriftRule, allowed: tuple[str, ...]) -> None:
    """Raise ValueError for an unknown method or a non-finite threshold."""
    if rule.method not in allowed:
        raise ValueError(f"drift method {rule.method!r} for {name!r} is not one of {allowed}")
    if not math.isfinite(rule.threshold):
        raise ValueError(f"drift threshold {rule.threshold!r} for {name!r} is not finite")
