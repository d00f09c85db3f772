"""Mergeable window state behind the performance figures: counts and sums only.

- classification: a confusion matrix over at most `max_classes` labels (default 64, first come
  first admitted) plus one `other` class; 65 x 65 int64 is 34 kB at most. Log loss and Brier
  score are sums over rows whose probability vector locates the true class, each probability
  clipped to [1e-15, 1 - 1e-15] as scikit-learn's `log_loss` clips. Two-class rows also count
  their class-1 score per true class in 200 bins, for the realised ROC AUC (exact when scores
  lie on a 0.005 grid, as rounded scores do; otherwise within-bin pairs count one half).
- regression: sums of absolute and squared errors, of absolute percentage errors over rows with
  a non-zero label (zero labels are excluded from MAPE and counted), and the label's count, mean
  and centred sum of squares (merged with Chan et al.'s pairwise update) for R^2.
- confidence: count of predictions with a probability, sum of their predicted-class
  probability, and how many fell under the low-confidence cut-off (default 0.6).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sidecar.outcomes.estimate import DEFAULT_AUC_BINS, score_bins
from sidecar.outcomes.labels import OTHER

DEFAULT_MAX_CLASSES = 64
DEFAULT_LOW_CONFIDENCE = 0.6
PROBABILITY_CLIP = 1e-15


@dataclass
class ClassificationCounts:
    """Confusion-matrix counts over a bounded class set, plus probability-score sums."""

    classes: list[str]
    matrix: np.ndarray[Any, np.dtype[np.int64]]
    max_classes: int = DEFAULT_MAX_CLASSES
    log_loss_sum: float = 0.0
    brier_sum: float = 0.0
    probability_rows: int = 0
    auc_positive: np.ndarray[Any, np.dtype[np.float64]] | None = None
    auc_negative: np.ndarray[Any, np.dtype[np.float64]] | None = None

    @classmethod
    def empty(cls, max_classes: int = DEFAULT_MAX_CLASSES) -> ClassificationCounts:
        """No rows yet."""
        return cls([], np.zeros((0, 0), dtype=np.int64), max_classes)

    def update_auc(self, scores: Sequence[float], positive: Sequence[bool]) -> None:
        """Count labelled rows' class-1 scores per bin, split by whether the label is 1."""
        if not scores:
            return
        bins = score_bins(np.asarray(scores, dtype=np.float64))
        is_one = np.asarray(positive, dtype=np.float64)
        if self.auc_positive is None or self.auc_negative is None:
            self.auc_positive = np.zeros(DEFAULT_AUC_BINS)
            self.auc_negative = np.zeros(DEFAULT_AUC_BINS)
        self.auc_positive += np.bincount(bins, is_one, DEFAULT_AUC_BINS)
        self.auc_negative += np.bincount(bins, 1.0 - is_one, DEFAULT_AUC_BINS)

    def _index(self, key: str) -> int:
        if key in self.classes:
            return self.classes.index(key)
        if len(self.classes) >= self.max_classes and OTHER not in self.classes:
            key = OTHER
        elif len(self.classes) >= self.max_classes:
            return self.classes.index(OTHER)
        self.classes.append(key)
        grown = np.zeros((len(self.classes),) * 2, dtype=np.int64)
        grown[: self.matrix.shape[0], : self.matrix.shape[1]] = self.matrix
        self.matrix = grown
        return len(self.classes) - 1

    def _indices(self, keys: Sequence[str]) -> np.ndarray[Any, np.dtype[np.intp]]:
        # One lookup per distinct label, then a vectorised gather.
        uniques, inverse = np.unique(np.asarray(keys, dtype=object), return_inverse=True)
        mapped = np.array([self._index(str(u)) for u in uniques], dtype=np.intp)
        return mapped[inverse.reshape(-1)]

    def update(self, true: Sequence[str], predicted: Sequence[str]) -> None:
        """Count (true, predicted) pairs."""
        if len(true) != len(predicted):
            raise ValueError(f"{len(true)} labels for {len(predicted)} predictions")
        if not true:
            return
        t, p = self._indices(true), self._indices(predicted)
        k = len(self.classes)
        self.matrix += np.bincount(t * k + p, minlength=k * k).reshape(k, k)

    def update_scores(
        self, true_positions: Sequence[int], vectors: Sequence[tuple[float, ...]]
    ) -> None:
        """Add log loss and Brier terms for rows whose true class sits at `true_positions`."""
        by_width: dict[int, list[int]] = {}
        for row, vector in enumerate(vectors):
            by_width.setdefault(len(vector), []).append(row)
        for width, rows in by_width.items():
            probs = np.asarray([vectors[r] for r in rows], dtype=np.float64)
            onehot = np.zeros_like(probs)
            onehot[np.arange(len(rows)), np.asarray([true_positions[r] for r in rows])] = 1.0
            p_true = np.clip((probs * onehot).sum(axis=1), PROBABILITY_CLIP, 1.0 - PROBABILITY_CLIP)
            self.log_loss_sum += float(-np.log(p_true).sum())
            brier = ((probs - onehot) ** 2).sum(axis=1)
            # scikit-learn halves the two-class Brier score so it equals mean (p1 - y1)^2.
            self.brier_sum += float(brier.sum() * (0.5 if width < 3 else 1.0))
            self.probability_rows += len(rows)

    def merge(self, other: ClassificationCounts) -> None:
        """Add another state's counts (classes beyond the bound fold into `other`)."""
        if other.classes:
            idx = np.array([self._index(c) for c in other.classes], dtype=np.intp)
            np.add.at(self.matrix, (idx[:, None], idx[None, :]), other.matrix)
        self.log_loss_sum += other.log_loss_sum
        self.brier_sum += other.brier_sum
        self.probability_rows += other.probability_rows
        if other.auc_positive is not None and other.auc_negative is not None:
            if self.auc_positive is None or self.auc_negative is None:
                self.auc_positive = np.zeros(DEFAULT_AUC_BINS)
                self.auc_negative = np.zeros(DEFAULT_AUC_BINS)
            self.auc_positive += other.auc_positive
            self.auc_negative += other.auc_negative

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "classes": list(self.classes),
            "matrix": self.matrix.tolist(),
            "max_classes": self.max_classes,
            "log_loss_sum": self.log_loss_sum,
            "brier_sum": self.brier_sum,
            "probability_rows": self.probability_rows,
            "auc": None
            if self.auc_positive is None or self.auc_negative is None
            else [self.auc_positive.tolist(), self.auc_negative.tolist()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassificationCounts:
        """Rebuild from `to_dict`."""
        k = len(data["classes"])
        matrix = np.asarray(data["matrix"], dtype=np.int64).reshape(k, k)
        auc = data.get("auc")  # absent from states saved before the realised AUC
        return cls(
            [str(c) for c in data["classes"]],
            matrix,
            int(data["max_classes"]),
            float(data["log_loss_sum"]),
            float(data["brier_sum"]),
            int(data["probability_rows"]),
            None if auc is None else np.asarray(auc[0], dtype=np.float64),
            None if auc is None else np.asarray(auc[1], dtype=np.float64),
        )


@dataclass
class RegressionSums:
    """Error sums and label moments for MAE, RMSE, MAPE and R^2."""

    rows: int = 0
    abs_error_sum: float = 0.0
    sq_error_sum: float = 0.0
    ape_sum: float = 0.0
    ape_rows: int = 0
    zero_label_rows: int = 0
    label_mean: float = 0.0
    label_m2: float = 0.0

    def update(self, true: Sequence[float], predicted: Sequence[float]) -> None:
        """Add rows of (label, prediction)."""
        if len(true) != len(predicted):
            raise ValueError(f"{len(true)} labels for {len(predicted)} predictions")
        if not true:
            return
        y = np.asarray(true, dtype=np.float64)
        err = np.abs(y - np.asarray(predicted, dtype=np.float64))
        nonzero = y != 0.0
        mean = float(y.mean())
        batch = RegressionSums(
            rows=len(y),
            abs_error_sum=float(err.sum()),
            sq_error_sum=float((err**2).sum()),
            ape_sum=float((err[nonzero] / np.abs(y[nonzero])).sum()),
            ape_rows=int(nonzero.sum()),
            zero_label_rows=int((~nonzero).sum()),
            label_mean=mean,
            label_m2=float(((y - mean) ** 2).sum()),
        )
        self.merge(batch)

    def merge(self, other: RegressionSums) -> None:
        """Add another state's sums; label moments combine by Chan et al.'s formula."""
        total = self.rows + other.rows
        if total == 0:
            return
        delta = other.label_mean - self.label_mean
        self.label_m2 += other.label_m2 + delta * delta * self.rows * other.rows / total
        self.label_mean += delta * other.rows / total
        self.rows = total
        self.abs_error_sum += other.abs_error_sum
        self.sq_error_sum += other.sq_error_sum
        self.ape_sum += other.ape_sum
        self.ape_rows += other.ape_rows
        self.zero_label_rows += other.zero_label_rows

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RegressionSums:
        """Rebuild from `to_dict`."""
        return cls(**data)


@dataclass
class ConfidenceCounts:
    """Label-free confidence: rows with a probability, their max-probability sum, low ones."""

    rows: int = 0
    max_probability_sum: float = 0.0
    low_confidence_rows: int = 0
    low_confidence: float = DEFAULT_LOW_CONFIDENCE

    def update(self, max_probabilities: Sequence[float]) -> None:
        """Add the maximum probability of each predicted row."""
        p = np.asarray(max_probabilities, dtype=np.float64)
        p = p[np.isfinite(p)]
        self.rows += len(p)
        self.max_probability_sum += float(p.sum())
        self.low_confidence_rows += int((p < self.low_confidence).sum())

    def merge(self, other: ConfidenceCounts) -> None:
        """Add another state's counts (both must share the threshold)."""
        if other.low_confidence != self.low_confidence:
            raise ValueError(
                f"low_confidence {other.low_confidence!r} differs from {self.low_confidence!r}"
            )
        self.rows += other.rows
        self.max_probability_sum += other.max_probability_sum
        self.low_confidence_rows += other.low_confidence_rows

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConfidenceCounts:
        """Rebuild from `to_dict`."""
        return cls(**data)
