"""The reference's model outputs against its labels: calibration maps, figures and scores.

`OutcomeCollector` keeps, while a profile is built, each reference row's label and probability
columns (`sidecar profile --target COL --probability COL[,COL...]`): one column is the
probability of class 1 of a two-class model, K columns are the probabilities of classes
0 .. K-1 in that order. Labels must then be class indices ("0", "1", ... or 0, 1.0, ...); rows
with a missing label or probability are skipped and counted. At most `max_rows` rows are kept
(default 1,000,000, the first ones; 8 * (K + 1) bytes a row).

`fit_outcomes` turns them into an `OutcomeProfile`: one isotonic map per class (one for class 1
with two classes), the reference's realised figures under `threshold` (the same definitions as
live windows use), and its scores over 1,000 bins for the low-confidence comparison.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from sidecar.outcomes.calibration import SCORE_BINS, OutcomeProfile, fit_calibration
from sidecar.outcomes.estimate import score_bins
from sidecar.outcomes.labels import CLASSIFICATION, DEFAULT_THRESHOLD, class_key
from sidecar.outcomes.performance import PerformanceState, performance_report
from sidecar.sketches.values import ColumnData

DEFAULT_MAX_ROWS = 1_000_000
REFERENCE_METRICS = (
    "accuracy", "precision", "recall", "f1", "precision_macro", "recall_macro", "f1_macro",
    "roc_auc", "log_loss", "brier",
)  # fmt: skip


class OutcomeCollector:
    """Labels and probability columns of reference rows, for `fit_outcomes`."""

    def __init__(
        self, target: str, probability: Sequence[str], max_rows: int = DEFAULT_MAX_ROWS
    ) -> None:
        if not probability:
            raise ValueError("probability: name at least one probability column")
        self.target, self.probability = target, tuple(probability)
        self.max_rows = max_rows
        self.skipped = 0
        self._labels: list[int] = []
        self._vectors: list[np.ndarray[tuple[int, int], np.dtype[np.float64]]] = []

    @property
    def rows(self) -> int:
        """Rows kept so far."""
        return len(self._labels)

    def add(self, columns: Mapping[str, ColumnData]) -> None:
        """Keep one chunk's labels and probabilities (raises ValueError naming a bad column)."""
        for name in (self.target, *self.probability):
            if name not in columns:
                raise ValueError(f"column {name!r} is not in the data")
        width = max(2, len(self.probability))
        labels = [_position(v, width, self.target) for v in columns[self.target]]
        matrix = np.column_stack([_numbers(columns[name], name) for name in self.probability])
        if matrix.shape[1] == 1:
            matrix = np.column_stack((1.0 - matrix[:, 0], matrix[:, 0]))
        truth = np.asarray([-1 if p is None else p for p in labels], dtype=np.int64)
        keep = (truth >= 0) & np.all(np.isfinite(matrix), axis=1)
        room = max(0, self.max_rows - self.rows)
        self.skipped += int((~keep).sum())
        kept = np.flatnonzero(keep)[:room]
        self._labels.extend(truth[kept].tolist())
        self._vectors.append(matrix[kept])

    def fit(self, threshold: float = DEFAULT_THRESHOLD) -> OutcomeProfile:
        """The finished outcome profile."""
        if not self._labels:
            raise ValueError(
                f"no reference row has both a label in {self.target!r} and probabilities"
            )
        return fit_outcomes(np.vstack(self._vectors), np.asarray(self._labels), threshold)


def _numbers(values: ColumnData, name: str) -> np.ndarray[tuple[int], np.dtype[np.float64]]:
    """A probability column as floats (missing -> NaN); a value outside [0, 1] is an error."""
    out = np.full(len(values), np.nan)
    for i, value in enumerate(values):
        if value is None:
            continue
        if isinstance(value, str) or not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"probability column {name!r}: {value!r:.40} is not in [0, 1]")
        out[i] = float(value)
    return out


def _position(value: object, width: int, name: str) -> int | None:
    """A label as a class position in 0 .. width-1 (None when missing)."""
    key = class_key(value)  # type: ignore[arg-type]
    if key is None:
        return None
    if not key.isdigit() or int(key) >= width:
        raise ValueError(
            f"target column {name!r}: label {value!r:.40} is not a class index 0..{width - 1}"
        )
    return int(key)


def fit_outcomes(
    vectors: np.ndarray[tuple[int, int], np.dtype[np.float64]],
    labels: np.ndarray[tuple[int], np.dtype[np.int64]],
    threshold: float = DEFAULT_THRESHOLD,
) -> OutcomeProfile:
    """Calibration maps, realised figures and score counts of (n, K) reference probabilities."""
    width = vectors.shape[1]
    if width == 2:
        predicted = (vectors[:, 1] >= threshold).astype(np.intp)
        scores = vectors[:, 1]
    else:
        predicted = vectors.argmax(axis=1)
        scores = vectors.max(axis=1)
    classes = [str(k) for k in range(width)]
    state = PerformanceState.empty()
    counts = state.classification
    counts.update([classes[t] for t in labels], [classes[p] for p in predicted])
    counts.update_scores(labels.tolist(), [tuple(row) for row in vectors.tolist()])
    if width == 2:
        counts.update_auc(vectors[:, 1].tolist(), (labels == 1).tolist())
    report = performance_report(state, CLASSIFICATION, min_count=1)
    return OutcomeProfile(
        classes=tuple(classes),
        calibration=fit_calibration(vectors, labels),
        threshold=threshold,
        metrics={k: getattr(report, k) for k in REFERENCE_METRICS},
        score_counts=tuple(
            np.bincount(score_bins(scores, SCORE_BINS), minlength=SCORE_BINS).tolist()
        ),
        rows=len(labels),
    )
