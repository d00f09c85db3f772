"""Realised model performance from delayed labels, and a label-free accuracy estimate.

Window state is counts and sums, so replica states merge by addition:

- classification: a confusion matrix over at most `max_classes` labels (default 64, first come
  first admitted) plus one `other` class; 65 x 65 int64 is 34 kB at most. Log loss and Brier
  score are sums over rows whose probability vector locates the true class (its position is the
  class's index in `class_names`, or the class label itself read as an integer).
- regression: sums of absolute and squared errors, of absolute percentage errors over rows with
  a non-zero label (zero labels are excluded from MAPE and counted), and the label's count, mean
  and centred sum of squares (merged with Chan et al.'s pairwise update) for R^2.
- confidence: count of predictions with a probability, sum of their maximum probability, and
  how many fell under the low-confidence threshold (default 0.6).

Figures follow scikit-learn's definitions (`precision_recall_fscore_support` with
`zero_division=0`, `log_loss` clipping at float64 eps, `brier_score_loss` halved for two
classes, `r2_score` with `force_finite`). Below `min_count` rows (default 30) a figure is null.
Class labels are compared as strings: 1, 1.0 and "1" are the same class.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sidecar.records import Value

DEFAULT_MAX_CLASSES = 64
DEFAULT_MIN_COUNT = 30
DEFAULT_THRESHOLD = 0.5
DEFAULT_LOW_CONFIDENCE = 0.6
DEFAULT_MAX_INFERRED_CLASSES = 20
OTHER = "other"
CLASSIFICATION = "classification"
REGRESSION = "regression"
TASKS = (CLASSIFICATION, REGRESSION)
_EPS = float(np.finfo(np.float64).eps)


def class_key(value: Value) -> str | None:
    """The class label a value stands for: integral numbers lose their '.0'; None stays None."""
    if value is None or isinstance(value, str):
        return value
    if not math.isfinite(value):
        return None
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def infer_task(
    predictions: Sequence[Value], max_classes: int = DEFAULT_MAX_INFERRED_CLASSES
) -> str:
    """Classification for strings or few distinct integral numbers, otherwise regression."""
    present = [v for v in predictions if v is not None]
    if not present or any(isinstance(v, str) for v in present):
        return CLASSIFICATION
    distinct = {float(v) for v in present}
    if all(v.is_integer() for v in distinct) and len(distinct) <= max_classes:
        return CLASSIFICATION
    return REGRESSION


def apply_threshold(
    prediction: Value, probability: tuple[float, ...] | float | None, threshold: float
) -> tuple[str | None, tuple[float, ...] | float | None]:
    """A single non-integral score s in [0, 1] becomes class '1' at s >= threshold, else '0'.

    The score is then the probability of class 1, so the row gains the vector (1 - s, s) when it
    came without one. Any other prediction keeps its class label and probability.
    """
    if isinstance(prediction, float) and 0.0 <= prediction <= 1.0 and not prediction.is_integer():
        label = "1" if prediction >= threshold else "0"
        return label, probability if probability is not None else (1.0 - prediction, prediction)
    return class_key(prediction), probability


def max_probability(probability: tuple[float, ...] | float | None) -> float | None:
    """The confidence of a row: the largest entry of its vector, or the given maximum."""
    if isinstance(probability, tuple):
        return max(probability) if probability else None
    return probability


@dataclass
class ClassificationCounts:
    """Confusion-matrix counts over a bounded class set, plus probability-score sums."""

    classes: list[str]
    matrix: np.ndarray[Any, np.dtype[np.int64]]
    max_classes: int = DEFAULT_MAX_CLASSES
    log_loss_sum: float = 0.0
    brier_sum: float = 0.0
    probability_rows: int = 0

    @classmethod
    def empty(cls, max_classes: int = DEFAULT_MAX_CLASSES) -> ClassificationCounts:
        """No rows yet."""
        return cls([], np.zeros((0, 0), dtype=np.int64), max_classes)

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
            p_true = np.clip((probs * onehot).sum(axis=1), _EPS, 1.0 - _EPS)
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

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "classes": list(self.classes),
            "matrix": self.matrix.tolist(),
            "max_classes": self.max_classes,
            "log_loss_sum": self.log_loss_sum,
            "brier_sum": self.brier_sum,
            "probability_rows": self.probability_rows,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassificationCounts:
        """Rebuild from `to_dict`."""
        k = len(data["classes"])
        matrix = np.asarray(data["matrix"], dtype=np.int64).reshape(k, k)
        return cls(
            [str(c) for c in data["classes"]],
            matrix,
            int(data["max_classes"]),
            float(data["log_loss_sum"]),
            float(data["brier_sum"]),
            int(data["probability_rows"]),
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


@dataclass
class PerformanceState:
    """One window's labelled classification and regression state and its confidence counts."""

    classification: ClassificationCounts
    regression: RegressionSums
    confidence: ConfidenceCounts

    @classmethod
    def empty(
        cls, max_classes: int = DEFAULT_MAX_CLASSES, low_confidence: float = DEFAULT_LOW_CONFIDENCE
    ) -> PerformanceState:
        """No rows yet."""
        return cls(
            ClassificationCounts.empty(max_classes),
            RegressionSums(),
            ConfidenceCounts(low_confidence=low_confidence),
        )

    def merge(self, other: PerformanceState) -> None:
        """Add another window's or replica's state."""
        self.classification.merge(other.classification)
        self.regression.merge(other.regression)
        self.confidence.merge(other.confidence)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "classification": self.classification.to_dict(),
            "regression": self.regression.to_dict(),
            "confidence": self.confidence.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PerformanceState:
        """Rebuild from `to_dict`."""
        return cls(
            ClassificationCounts.from_dict(data["classification"]),
            RegressionSums.from_dict(data["regression"]),
            ConfidenceCounts.from_dict(data["confidence"]),
        )


@dataclass(frozen=True)
class PerformanceReport:
    """Performance figures for one window (or the rolling span); null below `min_count` rows."""

    task: str
    labelled_rows: int
    min_count: int
    accuracy: float | None = None
    per_class: dict[str, dict[str, float | int]] | None = None
    precision_macro: float | None = None
    recall_macro: float | None = None
    f1_macro: float | None = None
    precision_weighted: float | None = None
    recall_weighted: float | None = None
    f1_weighted: float | None = None
    confusion_labels: list[str] | None = None
    confusion_matrix: list[list[int]] | None = None
    probability_rows: int = 0
    log_loss: float | None = None
    brier: float | None = None
    mae: float | None = None
    rmse: float | None = None
    mape: float | None = None
    mape_rows: int = 0
    zero_label_rows: int = 0
    r2: float | None = None
    confidence_rows: int = 0
    estimated_accuracy: float | None = None
    low_confidence_share: float | None = None
    low_confidence_threshold: float = DEFAULT_LOW_CONFIDENCE

    def to_json(self) -> dict[str, Any]:
        """A dict of plain JSON types (estimate and realised accuracy side by side)."""
        return asdict(self)


def _ratio(
    numerator: np.ndarray[Any, Any], denominator: np.ndarray[Any, Any]
) -> np.ndarray[Any, Any]:
    # zero_division=0, as scikit-learn's precision_recall_fscore_support(zero_division=0).
    out = np.zeros(len(numerator), dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def _classification_figures(counts: ClassificationCounts, min_count: int) -> dict[str, Any]:
    m = counts.matrix
    # scikit-learn's default label set: classes present among labels or predictions.
    present = np.flatnonzero(m.sum(axis=0) + m.sum(axis=1) > 0)
    m = m[np.ix_(present, present)]
    labels = [counts.classes[i] for i in present]
    tp = np.diag(m).astype(np.float64)
    support, predicted = m.sum(axis=1), m.sum(axis=0)
    precision, recall = _ratio(tp, predicted), _ratio(tp, support)
    f1 = _ratio(2 * tp, support + predicted)
    weights = support / support.sum()
    figures: dict[str, Any] = {
        "accuracy": float(tp.sum() / m.sum()),
        "per_class": {
            label: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        "precision_macro": float(precision.mean()),
        "recall_macro": float(recall.mean()),
        "f1_macro": float(f1.mean()),
        "precision_weighted": float((precision * weights).sum()),
        "recall_weighted": float((recall * weights).sum()),
        "f1_weighted": float((f1 * weights).sum()),
        "confusion_labels": labels,
        "confusion_matrix": m.tolist(),
    }
    if counts.probability_rows >= min_count:
        figures["log_loss"] = counts.log_loss_sum / counts.probability_rows
        figures["brier"] = counts.brier_sum / counts.probability_rows
    return figures


def _regression_figures(sums: RegressionSums, min_count: int) -> dict[str, Any]:
    n = sums.rows
    ss_res, ss_tot = sums.sq_error_sum, sums.label_m2
    if ss_tot > 0:
        r2 = 1.0 - ss_res / ss_tot
    else:
        # r2_score(force_finite=True): a constant label is fitted perfectly or not at all.
        r2 = 1.0 if ss_res == 0 else 0.0
    return {
        "mae": sums.abs_error_sum / n,
        "rmse": math.sqrt(sums.sq_error_sum / n),
        "mape": sums.ape_sum / sums.ape_rows if sums.ape_rows >= min_count else None,
        "r2": r2,
    }


def performance_report(
    state: PerformanceState, task: str, min_count: int = DEFAULT_MIN_COUNT
) -> PerformanceReport:
    """Figures for `task` from a window's state; each is null below `min_count` rows.

    The label-free `estimated_accuracy` is the mean maximum probability, CBPE's estimate: it
    assumes the model is calibrated (a row predicted with confidence p is right with chance p)
    and that calibration holds on the current inputs, so it misleads under concept drift.
    """
    if task not in TASKS:
        raise ValueError(f"task={task!r} is not one of {TASKS}")
    conf = state.confidence
    figures: dict[str, Any] = {}
    if conf.rows >= min_count:
        figures["estimated_accuracy"] = conf.max_probability_sum / conf.rows
        figures["low_confidence_share"] = conf.low_confidence_rows / conf.rows
    if task == CLASSIFICATION:
        labelled = int(state.classification.matrix.sum())
        if labelled >= min_count:
            figures.update(_classification_figures(state.classification, min_count))
    else:
        labelled = state.regression.rows
        if labelled >= min_count:
            figures.update(_regression_figures(state.regression, min_count))
    return PerformanceReport(
        task=task,
        labelled_rows=labelled,
        min_count=min_count,
        probability_rows=state.classification.probability_rows,
        mape_rows=state.regression.ape_rows,
        zero_label_rows=state.regression.zero_label_rows,
        confidence_rows=conf.rows,
        low_confidence_threshold=conf.low_confidence,
        **figures,
    )
