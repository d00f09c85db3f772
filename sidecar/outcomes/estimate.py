"""Performance without labels: the expected confusion matrix from calibrated probabilities.

Each predicted row i with calibrated class probabilities c_i and predicted class k_i (under the
configured threshold) adds c_i to column k_i of the expected confusion matrix E (rows: true
class, columns: predicted class) and c_i * (1 - c_i) to the same cells of V, the variance of the
true-class indicators. Rows are independent given their probabilities, so when c_i are the true
probabilities the realised count in cell (t, k) has mean E[t, k] and variance V[t, k] exactly.

Figures follow scikit-learn's definitions applied to E: accuracy = trace(E) / n; per class
precision E[k, k] / sum_t E[t, k], recall E[k, k] / sum_k' E[k, k'], F1 their harmonic mean;
binary figures are class "1"'s, macro the unweighted mean over classes. ROC AUC (two classes) is
the expected AUC (NannyML's CBPE): the ranking statistic with each row counted as c1 positive and
1 - c1 negative, over `DEFAULT_AUC_BINS` = 200 score bins (ties within a bin count one half, as
sklearn counts equal scores).

Bands are 95% normal intervals (+/- 1.96 sd; accuracy adds half its step 1 / n) of the realised
figure around the estimate, from the window's rows: accuracy's variance trace(V) / n^2 is
exact; precision, recall and F1 use the delta method on (TP, FN) with the predicted count
fixed; macro figures treat classes as independent; ROC AUC uses Hanley & McNeil (1982) with the
expected class counts. A 5,000-row
window with accuracy 0.9 has a band of about +/- 0.008.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sidecar.outcomes.calibration import Calibration, FloatArray
from sidecar.outcomes.labels import class_position

DEFAULT_AUC_BINS = 200
Z95 = 1.959963984540054


def score_bins(scores: FloatArray, bins: int = DEFAULT_AUC_BINS) -> np.ndarray[Any, Any]:
    """Bin index of each score in [0, 1] over `bins` equal bins (scores on a 1/bins grid stay
    in their own bin despite float rounding)."""
    return np.clip(np.floor(scores * bins + 1e-9).astype(np.intp), 0, bins - 1)


def binned_auc(positive: FloatArray, negative: FloatArray) -> float | None:
    """AUC from per-bin positive and negative weights (ties within a bin count one half)."""
    p_total, n_total = float(positive.sum()), float(negative.sum())
    if p_total <= 0 or n_total <= 0:
        return None
    below = np.cumsum(negative) - negative
    return float((positive * (below + 0.5 * negative)).sum() / (p_total * n_total))


def _grow(matrix: FloatArray, width: int) -> FloatArray:
    if matrix.shape[0] >= width:
        return matrix
    grown = np.zeros((width, width), dtype=np.float64)
    grown[: matrix.shape[0], : matrix.shape[1]] = matrix
    return grown


@dataclass
class EstimateCounts:
    """Expected confusion matrix, its variances and the expected AUC bins of one window."""

    rows: int = 0
    expected: FloatArray | None = None
    variance: FloatArray | None = None
    auc_positive: FloatArray | None = None
    auc_negative: FloatArray | None = None

    def update(self, vectors: FloatArray, predicted: np.ndarray[Any, Any]) -> None:
        """Add (n, K) calibrated vectors with their predicted class positions."""
        n, width = vectors.shape
        if n == 0:
            return
        self.expected = _grow(np.zeros((0, 0)) if self.expected is None else self.expected, width)
        self.variance = _grow(np.zeros((0, 0)) if self.variance is None else self.variance, width)
        size = self.expected.shape[0]
        onehot = np.zeros((n, size), dtype=np.float64)
        onehot[np.arange(n), predicted] = 1.0
        self.expected[:width] += vectors.T @ onehot
        self.variance[:width] += (vectors * (1.0 - vectors)).T @ onehot
        self.rows += n

    def update_auc(self, scores: FloatArray, calibrated: FloatArray) -> None:
        """Add raw class-1 scores with their calibrated class-1 probabilities."""
        bins = score_bins(scores)
        if self.auc_positive is None or self.auc_negative is None:
            self.auc_positive = np.zeros(DEFAULT_AUC_BINS)
            self.auc_negative = np.zeros(DEFAULT_AUC_BINS)
        self.auc_positive += np.bincount(bins, calibrated, DEFAULT_AUC_BINS)
        self.auc_negative += np.bincount(bins, 1.0 - calibrated, DEFAULT_AUC_BINS)

    def merge(self, other: EstimateCounts) -> None:
        """Add another window's or replica's counts."""
        self.rows += other.rows
        for name in ("expected", "variance", "auc_positive", "auc_negative"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if theirs is None:
                continue
            if mine is None:
                setattr(self, name, theirs.copy())
            elif theirs.ndim == 2:
                width = max(mine.shape[0], theirs.shape[0])
                merged = _grow(mine, width)
                merged[: theirs.shape[0], : theirs.shape[1]] += theirs
                setattr(self, name, merged)
            else:
                setattr(self, name, mine + theirs)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        out: dict[str, Any] = {"rows": self.rows}
        for name in ("expected", "variance", "auc_positive", "auc_negative"):
            value = getattr(self, name)
            out[name] = None if value is None else value.tolist()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> EstimateCounts:
        """Rebuild from `to_dict` (None, from a state saved before estimates: empty)."""
        if data is None:
            return cls()
        arrays = {
            name: None if data.get(name) is None else np.asarray(data[name], dtype=np.float64)
            for name in ("expected", "variance", "auc_positive", "auc_negative")
        }
        return cls(int(data["rows"]), **arrays)


def record_vectors(
    counts: EstimateCounts,
    keys: Sequence[str | None],
    vectors: Sequence[object],
    names: Sequence[str] | None,
    calibration: Calibration | None,
) -> None:
    """Add the rows that carry a probability vector (grouped by width), calibrated if mapped."""
    by_width: dict[int, list[int]] = {}
    for row, vector in enumerate(vectors):
        if isinstance(vector, tuple) and len(vector) >= 2:
            by_width.setdefault(len(vector), []).append(row)
    for width, rows in by_width.items():
        raw = np.asarray([vectors[r] for r in rows], dtype=np.float64)
        positions = [
            None if keys[r] is None else class_position(str(keys[r]), width, names) for r in rows
        ]
        # A row whose class has no position in its vector counts under the vector's argmax.
        argmax = raw.argmax(axis=1)
        predicted = np.array(
            [argmax[i] if p is None else p for i, p in enumerate(positions)], dtype=np.intp
        )
        calibrated = raw if calibration is None else calibration.calibrate(raw)
        counts.update(calibrated, predicted)
        if width == 2:
            counts.update_auc(raw[:, 1], calibrated[:, 1])


@dataclass(frozen=True)
class Estimate:
    """A label-free figure with its 95% sampling band."""

    value: float
    low: float
    high: float

    @classmethod
    def of(cls, value: float, variance: float, step: float = 0.0) -> Estimate:
        """The figure and value +/- (1.96 sd + step / 2), clipped to [0, 1].

        `step` is the spacing of the realised figure's possible values (1 / n for accuracy):
        half of it is the continuity correction of a normal interval for a count.
        """
        half = Z95 * math.sqrt(max(variance, 0.0)) + step / 2
        return cls(value, max(0.0, value - half), min(1.0, value + half))


def _ratio_variance(a: float, b: float, va: float, vb: float, fixed: float = 0.0) -> float:
    """Delta-method variance of k * a / (fixed + a + b) style ratios (see `_class_figures`)."""
    total = fixed + a + b
    if total <= 0:
        return 0.0
    return ((fixed + b) ** 2 * va + a**2 * vb) / total**4


def _class_figures(e: FloatArray, v: FloatArray, k: int) -> dict[str, tuple[float, float]]:
    """(value, variance) of precision, recall and F1 of class position k (delta method)."""
    tp, predicted = e[k, k], e[:, k].sum()
    fn = e[k].sum() - tp
    v_tp, v_fn = v[k, k], v[k].sum() - v[k, k]
    precision = tp / predicted if predicted > 0 else 0.0
    recall = tp / (tp + fn) if tp + fn > 0 else 0.0
    f1 = 2 * tp / (predicted + tp + fn) if predicted + tp + fn > 0 else 0.0
    # F1 = 2 TP / (n_pred + TP + FN) with n_pred fixed: d/dTP = 2 (n_pred + FN) / D^2.
    return {
        "precision": (precision, v_tp / predicted**2 if predicted > 0 else 0.0),
        "recall": (recall, _ratio_variance(tp, fn, v_tp, v_fn)),
        "f1": (f1, 4 * _ratio_variance(tp, fn, v_tp, v_fn, predicted)),
    }


def _hanley_mcneil(auc: float, positives: float, negatives: float) -> float:
    """Variance of an AUC over this many positives and negatives (Hanley & McNeil 1982)."""
    if positives < 1 or negatives < 1:
        return 0.0
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    spread = auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)
    return spread / (positives * negatives)


def estimated_figures(
    counts: EstimateCounts, classes: list[str], reference_rows: int = 0
) -> dict[str, Estimate]:
    """Accuracy, binary and macro precision/recall/F1 and ROC AUC from a window's counts.

    With a calibration fitted on `reference_rows` rows, each band's variance grows by the
    factor 1 + n / reference_rows: the map's own sampling error, of the order of a
    reference-sized sample's, adds to the window's.
    """
    e, v = counts.expected, counts.variance
    if e is None or v is None or counts.rows == 0:
        return {}
    n = float(e.sum())
    if reference_rows > 0:
        v = v * (1.0 + n / reference_rows)
    out = {"accuracy": Estimate.of(float(np.trace(e)) / n, float(np.trace(v)) / n**2, 1.0 / n)}
    # The classes present: expected as true or predicted (sklearn's label set, in expectation).
    present = [k for k in range(e.shape[0]) if e[k].sum() + e[:, k].sum() > 0]
    per_class = {k: _class_figures(e, v, k) for k in present}
    for name in ("precision", "recall", "f1"):
        figures = [per_class[k][name] for k in present]
        # Macro variance: the classes' variances, treated as independent, over K^2.
        out[f"{name}_macro"] = Estimate.of(
            float(np.mean([f[0] for f in figures])),
            sum(f[1] for f in figures) / len(figures) ** 2,
        )
    if len(classes) == 2 and "1" in classes and classes.index("1") in per_class:
        out.update({k: Estimate.of(*f) for k, f in per_class[classes.index("1")].items()})
    if counts.auc_positive is not None and counts.auc_negative is not None:
        auc = binned_auc(counts.auc_positive, counts.auc_negative)
        if auc is not None:
            pos, neg = float(counts.auc_positive.sum()), float(counts.auc_negative.sum())
            inflate = 1.0 + n / reference_rows if reference_rows > 0 else 1.0
            out["roc_auc"] = Estimate.of(auc, _hanley_mcneil(auc, pos, neg) * inflate)
    return out
