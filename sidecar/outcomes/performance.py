"""Realised model performance from delayed labels, beside the label-free estimate.

Window state (`sidecar.outcomes.counts`, `sidecar.outcomes.estimate`) is counts and sums, so
replica states merge by addition. Realised figures follow scikit-learn's definitions
(`precision_recall_fscore_support` with `zero_division=0`, `log_loss` clipping at 1e-15,
`brier_score_loss` halved for two classes, `r2_score` with `force_finite`, `roc_auc_score` over
200 score bins). Below `min_count` rows (default 30) a figure is null. Class labels are compared
as strings: 1, 1.0 and "1" are the same class.

Estimated figures (classification only) come from the calibrated probabilities of the window's
predictions, with a 95% band each; `estimation_error` is estimate - realised for every figure
that has both. For regression nothing is estimated without labels: the report's
`estimate_note` says so, and MAE, RMSE, MAPE and R^2 appear only once labels do.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sidecar.outcomes.counts import (
    DEFAULT_LOW_CONFIDENCE,
    DEFAULT_MAX_CLASSES,
    ClassificationCounts,
    ConfidenceCounts,
    RegressionSums,
)
from sidecar.outcomes.estimate import Estimate, EstimateCounts, binned_auc, estimated_figures
from sidecar.outcomes.labels import CLASSIFICATION, TASKS

DEFAULT_MIN_COUNT = 30
REGRESSION_NOTE = (
    "regression: no label-free estimate (a point prediction carries no probability of being "
    "right); realised MAE, RMSE, MAPE and R^2 appear once labels arrive"
)

ESTIMATED_FIGURES = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "roc_auc",
)


@dataclass
class PerformanceState:
    """One window's labelled state, its confidence counts and its label-free estimate counts."""

    classification: ClassificationCounts
    regression: RegressionSums
    confidence: ConfidenceCounts
    estimate: EstimateCounts

    @classmethod
    def empty(
        cls, max_classes: int = DEFAULT_MAX_CLASSES, low_confidence: float = DEFAULT_LOW_CONFIDENCE
    ) -> PerformanceState:
        """No rows yet."""
        return cls(
            ClassificationCounts.empty(max_classes),
            RegressionSums(),
            ConfidenceCounts(low_confidence=low_confidence),
            EstimateCounts(),
        )

    def merge(self, other: PerformanceState) -> None:
        """Add another window's or replica's state."""
        self.classification.merge(other.classification)
        self.regression.merge(other.regression)
        self.confidence.merge(other.confidence)
        self.estimate.merge(other.estimate)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "classification": self.classification.to_dict(),
            "regression": self.regression.to_dict(),
            "confidence": self.confidence.to_dict(),
            "estimate": self.estimate.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PerformanceState:
        """Rebuild from `to_dict` (a state saved before estimates gets empty estimate counts)."""
        return cls(
            ClassificationCounts.from_dict(data["classification"]),
            RegressionSums.from_dict(data["regression"]),
            ConfidenceCounts.from_dict(data["confidence"]),
            EstimateCounts.from_dict(data.get("estimate")),
        )


@dataclass(frozen=True)
class ReferenceContext:
    """What the report compares against: the reference's figures and its low-confidence share."""

    calibrated: bool = False
    metrics: dict[str, float | None] | None = None
    low_confidence_share: float | None = None
    rows: int = 0


@dataclass(frozen=True)
class PerformanceReport:
    """Performance figures for one window (or the rolling span); null below `min_count` rows."""

    task: str
    labelled_rows: int
    min_count: int
    accuracy: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    roc_auc: float | None = None
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
    estimated_rows: int = 0
    calibrated: bool = False
    estimated: dict[str, dict[str, float]] | None = None
    estimated_accuracy: float | None = None
    mean_confidence: float | None = None
    estimation_error: dict[str, float] | None = None
    estimate_note: str | None = None
    reference: dict[str, float | None] | None = None
    low_confidence_share: float | None = None
    low_confidence_threshold: float = DEFAULT_LOW_CONFIDENCE
    reference_low_confidence_share: float | None = None

    def comparison(self) -> dict[str, dict[str, float | None]]:
        """Per estimated figure: the estimate, its band, the realised figure and the error."""
        out: dict[str, dict[str, float | None]] = {}
        for metric, figure in (self.estimated or {}).items():
            out[metric] = {
                "estimated": figure["value"],
                "low": figure["low"],
                "high": figure["high"],
                "realised": getattr(self, metric, None),
                "error": (self.estimation_error or {}).get(metric),
            }
        return out

    def to_json(self) -> dict[str, Any]:
        """A dict of plain JSON types, with `comparison`: estimate, realised, error side by side."""
        return {**asdict(self), "comparison": self.comparison()}


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
    per_class = {
        label: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, label in enumerate(labels)
    }
    figures: dict[str, Any] = {
        "accuracy": float(tp.sum() / m.sum()),
        "per_class": per_class,
        "precision_macro": float(precision.mean()),
        "recall_macro": float(recall.mean()),
        "f1_macro": float(f1.mean()),
        "precision_weighted": float((precision * weights).sum()),
        "recall_weighted": float((recall * weights).sum()),
        "f1_weighted": float((f1 * weights).sum()),
        "confusion_labels": labels,
        "confusion_matrix": m.tolist(),
    }
    if set(labels) <= {"0", "1"} and "1" in per_class:
        figures.update({k: per_class["1"][k] for k in ("precision", "recall", "f1")})
    if counts.auc_positive is not None and counts.auc_negative is not None:
        figures["roc_auc"] = binned_auc(counts.auc_positive, counts.auc_negative)
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


def _estimate_figures(
    state: PerformanceState,
    classes: list[str],
    min_count: int,
    realised: dict[str, Any],
    reference_rows: int,
) -> dict[str, Any]:
    """The estimate, its bands, and estimate - realised where both exist."""
    conf = state.confidence
    figures: dict[str, Any] = {}
    if conf.rows >= min_count:
        figures["mean_confidence"] = conf.max_probability_sum / conf.rows
        figures["low_confidence_share"] = conf.low_confidence_rows / conf.rows
    if state.estimate.rows < min_count:
        # Rows with only their top probability (vectors too wide to keep): the raw estimate.
        figures["estimated_accuracy"] = figures.get("mean_confidence")
        return figures
    estimated: dict[str, Estimate] = estimated_figures(state.estimate, classes, reference_rows)
    figures["estimated"] = {k: asdict(v) for k, v in estimated.items()}
    if "accuracy" in estimated:
        figures["estimated_accuracy"] = estimated["accuracy"].value
    errors = {
        k: estimated[k].value - realised[k]
        for k in ESTIMATED_FIGURES
        if k in estimated and realised.get(k) is not None
    }
    figures["estimation_error"] = errors or None
    return figures


def performance_report(
    state: PerformanceState,
    task: str,
    min_count: int = DEFAULT_MIN_COUNT,
    classes: list[str] | None = None,
    reference: ReferenceContext | None = None,
) -> PerformanceReport:
    """Figures for `task` from a window's state; each is null below `min_count` rows.

    `classes` names the estimate's class positions (default "0", "1", ...). The estimate
    assumes that P(label | calibrated score) on the current inputs is what it was on the
    reference: it holds under covariate shift and misleads under concept drift.
    """
    if task not in TASKS:
        raise ValueError(f"task={task!r} is not one of {TASKS}")
    context = reference or ReferenceContext()
    figures: dict[str, Any] = {}
    if task == CLASSIFICATION:
        labelled = int(state.classification.matrix.sum())
        if labelled >= min_count:
            figures.update(_classification_figures(state.classification, min_count))
        width = 0 if state.estimate.expected is None else state.estimate.expected.shape[0]
        names = classes or [str(k) for k in range(width)]
        figures.update(_estimate_figures(state, names, min_count, figures, context.rows))
    else:
        labelled = state.regression.rows
        if labelled >= min_count:
            figures.update(_regression_figures(state.regression, min_count))
        figures["estimate_note"] = REGRESSION_NOTE
    return PerformanceReport(
        task=task,
        labelled_rows=labelled,
        min_count=min_count,
        probability_rows=state.classification.probability_rows,
        mape_rows=state.regression.ape_rows,
        zero_label_rows=state.regression.zero_label_rows,
        confidence_rows=state.confidence.rows,
        estimated_rows=state.estimate.rows,
        calibrated=context.calibrated,
        reference=context.metrics,
        low_confidence_threshold=state.confidence.low_confidence,
        reference_low_confidence_share=context.low_confidence_share,
        **figures,
    )
