"""Calibration maps: isotonic regression of labels on scores, fitted by pool-adjacent-violators.

`isotonic_fit(x, y)` equals scikit-learn's `IsotonicRegression(out_of_bounds="clip")` fitted on
the same data (tested to 1e-12): duplicate scores are pooled first (weighted mean), then PAV
makes the fitted values non-decreasing, and `IsotonicMap.apply` interpolates linearly between the
kept knots and clips outside them. Knots whose value equals both neighbours' are dropped, so a
map of n reference rows keeps at most min(n, distinct scores) and usually a few hundred knots.

`Calibration` holds one map per class: the probability of class 1 for a single score (class 0
gets 1 - c), or one-vs-rest maps for a K-class vector, renormalised to sum to 1. Without a map a
vector passes through unchanged (the raw-confidence estimate).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


def _pool_duplicates(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Distinct sorted x with the mean y and the row count at each."""
    order = np.argsort(x, kind="mergesort")
    xs, ys = x[order], y[order]
    distinct, start, counts = np.unique(xs, return_index=True, return_counts=True)
    sums = np.add.reduceat(ys, start)
    return distinct, sums / counts, counts.astype(np.float64)


def pool_adjacent_violators(y: FloatArray, w: FloatArray) -> FloatArray:
    """The weighted least-squares non-decreasing fit of y (Ayer et al. 1955)."""
    means: list[float] = []
    weights: list[float] = []
    sizes: list[int] = []
    for value, weight in zip(y.tolist(), w.tolist(), strict=True):
        mean, total, size = value, weight, 1
        # Merge backwards while the previous block's mean violates the order.
        while means and means[-1] >= mean:
            prev_w = weights.pop()
            mean = (means.pop() * prev_w + mean * total) / (prev_w + total)
            total += prev_w
            size += sizes.pop()
        means.append(mean)
        weights.append(total)
        sizes.append(size)
    return np.repeat(np.asarray(means, dtype=np.float64), sizes)


@dataclass(frozen=True)
class IsotonicMap:
    """A non-decreasing piecewise-linear map from score to probability."""

    x: tuple[float, ...]
    y: tuple[float, ...]

    def apply(self, scores: FloatArray) -> FloatArray:
        """Calibrated probabilities (linear between knots, clipped outside them)."""
        out: FloatArray = np.interp(scores, np.asarray(self.x), np.asarray(self.y))
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {"x": list(self.x), "y": list(self.y)}


def isotonic_fit(
    scores: Sequence[float] | FloatArray, labels: Sequence[float] | FloatArray
) -> IsotonicMap:
    """Fit P(label = 1 | score) by isotonic regression; raises ValueError on empty input."""
    x = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if x.size == 0 or x.shape != y.shape:
        raise ValueError(f"isotonic fit needs equal, non-empty inputs: {x.shape} and {y.shape}")
    distinct, means, counts = _pool_duplicates(x, y)
    fitted = pool_adjacent_violators(means, counts)
    keep = np.ones(len(fitted), dtype=bool)
    # As scikit-learn does: a knot whose value equals both neighbours' changes nothing.
    keep[1:-1] = (fitted[1:-1] != fitted[:-2]) | (fitted[1:-1] != fitted[2:])
    return IsotonicMap(tuple(distinct[keep].tolist()), tuple(fitted[keep].tolist()))


@dataclass(frozen=True)
class Calibration:
    """Per-class maps: `maps[k]` calibrates the probability of class position k (None: raw)."""

    maps: tuple[IsotonicMap | None, ...]

    def calibrate(self, vectors: FloatArray) -> FloatArray:
        """Calibrated (n, K) probability vectors; rows sum to 1."""
        if vectors.shape[1] == 2 and len(self.maps) == 2 and self.maps[0] is None:
            positive = self.maps[1]
            if positive is None:
                return vectors
            c1 = positive.apply(vectors[:, 1])
            return np.column_stack((1.0 - c1, c1))
        if len(self.maps) != vectors.shape[1]:
            return vectors
        out = np.column_stack(
            [v if m is None else m.apply(v) for m, v in zip(self.maps, vectors.T, strict=True)]
        )
        total = out.sum(axis=1, keepdims=True)
        # A row every map sends to 0 keeps its raw vector rather than dividing by zero.
        return np.where(total > 0, out / np.where(total > 0, total, 1.0), vectors)

    def to_dict(self) -> list[dict[str, Any] | None]:
        """Plain JSON form: one map (or null) per class position."""
        return [None if m is None else m.to_dict() for m in self.maps]


def fit_calibration(
    vectors: FloatArray, positions: Sequence[int] | np.ndarray[Any, Any]
) -> Calibration:
    """Maps for (n, K) reference probabilities against the true class positions."""
    truth = np.asarray(positions, dtype=np.intp)
    width = vectors.shape[1]
    if width == 2:
        return Calibration((None, isotonic_fit(vectors[:, 1], (truth == 1).astype(np.float64))))
    return Calibration(
        tuple(isotonic_fit(vectors[:, k], (truth == k).astype(np.float64)) for k in range(width))
    )


SCORE_BINS = 1000
"""Reference scores are kept as counts over 1,000 equal bins of [0, 1] (0.001 resolution)."""


@dataclass(frozen=True)
class OutcomeProfile:
    """What a reference period says about the model's outputs: calibration, figures, scores.

    `score_counts` counts the reference's class-1 scores (two classes) or its rows' largest
    probability (more classes) over `SCORE_BINS` bins, so the share under any confidence cut-off
    and decision threshold can be read at run time.
    """

    classes: tuple[str, ...]
    calibration: Calibration
    threshold: float
    metrics: dict[str, float | None]
    score_counts: tuple[int, ...]
    rows: int

    def low_confidence_share(self, cutoff: float, threshold: float) -> float | None:
        """Share of reference rows whose predicted-class probability is under `cutoff`."""
        counts = np.asarray(self.score_counts, dtype=np.float64)
        total = counts.sum()
        if total <= 0:
            return None
        # Each bin stands for its lower edge: scores on a 0.001 grid (rounded ones) are exact.
        edges = np.arange(SCORE_BINS) / SCORE_BINS
        if len(self.classes) == 2:
            confidence = np.where(edges >= threshold, edges, 1.0 - edges)
        else:
            confidence = edges
        return float(counts[confidence < cutoff].sum() / total)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {
            "classes": list(self.classes),
            "calibration": self.calibration.to_dict(),
            "threshold": self.threshold,
            "metrics": dict(self.metrics),
            "score_counts": list(self.score_counts),
            "rows": self.rows,
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "outcomes") -> OutcomeProfile:
        """Validate and restore; raises ValueError naming the field and the value."""
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected an object, got {data!r:.80}")
        classes = data.get("classes")
        if not isinstance(classes, list) or len(classes) < 2:
            raise ValueError(f"{where}.classes: {classes!r:.80} is not a list of >= 2 classes")
        maps = data.get("calibration")
        if not isinstance(maps, list) or len(maps) != len(classes):
            raise ValueError(f"{where}.calibration: expected {len(classes)} maps, got {maps!r:.80}")
        counts = data.get("score_counts")
        if not isinstance(counts, list) or len(counts) != SCORE_BINS:
            raise ValueError(f"{where}.score_counts: expected {SCORE_BINS} counts")
        threshold = data.get("threshold")
        if not isinstance(threshold, int | float) or not 0.0 <= threshold <= 1.0:
            raise ValueError(f"{where}.threshold: {threshold!r:.80} is not in [0, 1]")
        metrics = data.get("metrics", {})
        if not isinstance(metrics, dict):
            raise ValueError(f"{where}.metrics: {metrics!r:.80} is not an object")
        return cls(
            tuple(str(c) for c in classes),
            Calibration(tuple(_map(m, f"{where}.calibration[{i}]") for i, m in enumerate(maps))),
            float(threshold),
            {str(k): None if v is None else float(v) for k, v in metrics.items()},
            tuple(int(c) for c in counts),
            int(data.get("rows", 0)),
        )


def _map(data: Any, where: str) -> IsotonicMap | None:
    """One stored map: null, or {"x": [...], "y": [...]} with x increasing, y in [0, 1]."""
    if data is None:
        return None
    x, y = (data.get(k) if isinstance(data, dict) else None for k in ("x", "y"))
    if not isinstance(x, list) or not isinstance(y, list) or not x or len(x) != len(y):
        raise ValueError(f"{where}: expected equal non-empty lists x and y, got {data!r:.80}")
    xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if not (np.all(np.isfinite(xs)) and np.all(np.diff(xs) > 0)):
        raise ValueError(f"{where}.x: must be finite and strictly increasing")
    if not (np.all(ys >= 0) and np.all(ys <= 1) and np.all(np.diff(ys) >= 0)):
        raise ValueError(f"{where}.y: must be non-decreasing probabilities in [0, 1]")
    return IsotonicMap(tuple(xs.tolist()), tuple(ys.tolist()))
