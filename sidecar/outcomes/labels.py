"""Class labels, task inference and the configured decision threshold.

A model answers per row a class label, a single score, or a probability vector. A single score s
is the probability of class 1 when it is a non-integral number in [0, 1], and also at exactly 0.0
or 1.0 once the model's outputs are known to be probabilities (`performance.scores: probability`,
or a reference profile built with `--probability`). The predicted class of a score, and of a
two-class vector (p0, p1), is 1 at p1 >= threshold, else 0; the confidence of a row is the
probability of its predicted class (so for p1 in [0.5, threshold) it is 1 - p1, not p1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from sidecar.records import Value

DEFAULT_THRESHOLD = 0.5
DEFAULT_MAX_INFERRED_CLASSES = 20
OTHER = "other"
CLASSIFICATION = "classification"
REGRESSION = "regression"
TASKS = (CLASSIFICATION, REGRESSION)
PROBABILITY = "probability"
LABEL = "label"
SCORES = (PROBABILITY, LABEL)


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


def is_score(prediction: Value, probabilities: bool) -> bool:
    """Whether a prediction is the probability of class 1 (see the module docstring)."""
    if isinstance(prediction, str) or prediction is None or not 0.0 <= prediction <= 1.0:
        return False
    return probabilities or not float(prediction).is_integer()


def apply_threshold(
    prediction: Value,
    probability: tuple[float, ...] | float | None,
    threshold: float,
    probabilities: bool = False,
) -> tuple[str | None, tuple[float, ...] | float | None]:
    """A score s becomes class '1' at s >= threshold, else '0', with the vector (1 - s, s).

    A two-class vector's class follows the threshold too; any other prediction keeps its class
    label and probability.
    """
    if is_score(prediction, probabilities):
        s = float(prediction)  # type: ignore[arg-type]
        label = "1" if s >= threshold else "0"
        return label, probability if probability is not None else (1.0 - s, s)
    if isinstance(probability, tuple) and len(probability) == 2:
        return ("1" if probability[1] >= threshold else "0"), probability
    return class_key(prediction), probability


def confidence(
    key: str | None, probability: tuple[float, ...] | float | None, threshold: float
) -> float | None:
    """The probability of the predicted class: p1 or 1 - p1 under the threshold, else the max."""
    if isinstance(probability, tuple):
        if len(probability) == 2 and key in ("0", "1"):
            p1 = probability[1]
            return p1 if p1 >= threshold else 1.0 - p1
        return max(probability) if probability else None
    return probability


def class_position(key: str, width: int, names: Sequence[str] | None = None) -> int | None:
    """The position of class `key` in a vector of `width` (its index in `names`, or the key
    read as an integer); None when it has none."""
    if names is not None:
        pos = list(names).index(key) if key in names else None
    else:
        pos = int(key) if key.isdigit() else None
    return pos if pos is not None and pos < width else None
