"""Running count, mean, variance, min and max of a numeric column, mergeable exactly in counts.

Merging uses the parallel formula of Chan, Golub and LeVeque (1979): for parts A and B with
counts n_a, n_b, means m_a, m_b and sums of squared deviations M2_a, M2_b,
    delta = m_b - m_a,  n = n_a + n_b,  m = m_a + delta * n_b / n,
    M2 = M2_a + M2_b + delta^2 * n_a * n_b / n.
The count merges exactly; mean and M2 agree with a single pass to float rounding (~1e-15
relative). Memory: five numbers, 40 bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sidecar.sketches.values import FloatArray


@dataclass(slots=True)
class Moments:
    """Count, mean, sum of squared deviations (M2), min and max of finite values."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf

    def update(self, values: FloatArray) -> None:
        """Add a batch of finite values (one numpy reduction each)."""
        if values.size == 0:
            return
        # Values near the float limit may overflow the mean or M2 to inf: an honest answer
        # for such a column, and no reason to raise inside monitoring.
        with np.errstate(over="ignore", invalid="ignore"):
            batch_mean = float(values.mean())
            batch_m2 = float(np.square(values - batch_mean).sum())
        batch = Moments(
            int(values.size), batch_mean, batch_m2, float(values.min()), float(values.max())
        )
        self.merge(batch)

    def merge(self, other: Moments) -> None:
        """Fold another part in with the Chan et al. parallel formula."""
        if other.count == 0:
            return
        if self.count == 0:
            self.count, self.mean, self.m2 = other.count, other.mean, other.m2
            self.minimum, self.maximum = other.minimum, other.maximum
            return
        total = self.count + other.count
        delta = other.mean - self.mean
        self.mean += delta * other.count / total
        self.m2 += other.m2 + delta * delta * self.count * other.count / total
        self.count = total
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)

    @property
    def variance(self) -> float:
        """Population variance (ddof = 0); 0.0 when empty."""
        return self.m2 / self.count if self.count else 0.0

    @property
    def std(self) -> float:
        """Population standard deviation (ddof = 0)."""
        return math.sqrt(max(self.variance, 0.0))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form (min/max null when empty)."""
        empty = self.count == 0
        return {
            "count": self.count,
            "mean": self.mean,
            "m2": self.m2,
            "min": None if empty else self.minimum,
            "max": None if empty else self.maximum,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Moments:
        """Restore from `to_dict()` output."""
        low, high = data.get("min"), data.get("max")
        return cls(
            int(data["count"]),
            float(data["mean"]),
            float(data["m2"]),
            math.inf if low is None else float(low),
            -math.inf if high is None else float(high),
        )
