"""The demo's toy model: a seeded credit-like dataset, numpy logistic regression, drift schedule.

Features: numeric `age`, `income`, `debt_ratio`, `tenure_months`; categorical `region`,
`channel`; the sensitive attribute `group` (A/B), sent with every request but not used by the
model. The label is drawn from a logistic ground truth, so the trained model is right about 75%
of the time. After the shift, `income` is scaled by `SHIFT_INCOME_SCALE` (0.6), the `region` mix
moves to `SHIFT_REGION_MIX`, and `SHIFT_FLIP_SHARE` (40%) of group B's favourable outcomes become
unfavourable, so its true-positive rate and the fairness gaps move.

Training 5,000 rows takes about 50 ms (300 full-batch gradient steps on 13 columns). Memory: the
training matrix, rows x 13 float64 (0.5 MB at the default size). Pure numpy; no clock is read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_SEED = 7
DEFAULT_TRAINING_ROWS = 5_000
DEFAULT_STEPS = 300
DEFAULT_LEARNING_RATE = 0.5
DEFAULT_L2 = 1e-3
MODEL_NAME = "credit"
LABEL = "label"
PREDICTION = "predicted"
SCORE = "score"
"""The reference's P(class 1) column: the profile calibrates on it and keeps its confidence."""
NUMERIC = ("age", "income", "debt_ratio", "tenure_months")
CATEGORICAL = ("region", "channel")
SENSITIVE = "group"
FEATURES = (*NUMERIC, *CATEGORICAL, SENSITIVE)
REGIONS = ("north", "south", "east", "west")
REGION_MIX = (0.30, 0.25, 0.25, 0.20)
CHANNELS = ("web", "branch", "partner")
CHANNEL_MIX = (0.5, 0.3, 0.2)
GROUPS = ("A", "B")
GROUP_MIX = (0.6, 0.4)
SHIFT_INCOME_SCALE = 0.6
SHIFT_REGION_MIX = (0.05, 0.10, 0.15, 0.70)
SHIFT_FLIP_SHARE = 0.4
SHIFTED_FEATURES = ("income", "region")
REGION_EFFECT = {"north": 0.3, "south": -0.2, "east": 0.0, "west": -0.4}
CHANNEL_EFFECT = {"web": 0.1, "branch": 0.3, "partner": -0.5}

Columns = dict[str, np.ndarray[Any, Any]]
"""Named columns of equal length: float arrays for numeric features, str arrays otherwise."""


@dataclass(frozen=True)
class Batch:
    """Generated rows: feature columns and the true label (0/1) of each row."""

    columns: Columns
    labels: np.ndarray[Any, np.dtype[np.int64]]

    def __len__(self) -> int:
        return int(self.labels.size)

    def rows(self) -> list[dict[str, float | str]]:
        """The rows as JSON-ready objects (numbers rounded as a client would send them)."""
        names = list(self.columns)
        values = [self.columns[name].tolist() for name in names]
        return [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]


def _ground_truth_logit(columns: Mapping[str, np.ndarray[Any, Any]]) -> np.ndarray[Any, Any]:
    """The logit the true labels are drawn from (the model has to learn it)."""
    income = (np.log(columns["income"]) - 10.8) / 0.5
    debt = (columns["debt_ratio"] - 0.29) / 0.16
    age = (columns["age"] - 42.0) / 12.0
    tenure = (columns["tenure_months"] - 36.0) / 25.0
    region = np.vectorize(REGION_EFFECT.__getitem__, otypes=[float])(columns["region"])
    channel = np.vectorize(CHANNEL_EFFECT.__getitem__, otypes=[float])(columns["channel"])
    logit: np.ndarray[Any, Any] = 0.3 + income - 1.3 * debt + 0.4 * age + 0.5 * tenure
    logit = logit + region + channel
    return logit


def generate(rng: np.random.Generator, n: int, shifted: bool = False) -> Batch:
    """`n` rows from the pre-shift (or, with `shifted`, the post-shift) distribution."""
    if n < 0:
        raise ValueError(f"n={n!r} must be >= 0")
    group = rng.choice(np.array(GROUPS), size=n, p=GROUP_MIX)
    income = rng.lognormal(np.log(52_000.0), 0.5, size=n) * np.where(group == "B", 0.9, 1.0)
    if shifted:
        income = income * SHIFT_INCOME_SCALE
    columns: Columns = {
        "age": np.clip(rng.normal(42.0, 12.0, size=n), 18.0, 90.0).round(0),
        "income": income.round(2),
        "debt_ratio": rng.beta(2.0, 5.0, size=n).round(4),
        "tenure_months": np.floor(rng.gamma(1.5, 24.0, size=n)),
        "region": rng.choice(
            np.array(REGIONS), size=n, p=SHIFT_REGION_MIX if shifted else REGION_MIX
        ),
        "channel": rng.choice(np.array(CHANNELS), size=n, p=CHANNEL_MIX),
        SENSITIVE: group,
    }
    probability = 1.0 / (1.0 + np.exp(-_ground_truth_logit(columns)))
    labels = (rng.random(n) < probability).astype(np.int64)
    if shifted:
        # The world changes for group B: some of its favourable outcomes no longer happen.
        flip = (group == "B") & (labels == 1) & (rng.random(n) < SHIFT_FLIP_SHARE)
        labels = np.where(flip, 0, labels)
    return Batch(columns, labels)


def design_matrix(
    columns: Mapping[str, Sequence[Any] | np.ndarray[Any, Any]],
) -> np.ndarray[Any, Any]:
    """Model inputs: log income, raw numerics and one-hot region and channel (no group)."""
    numeric = [np.asarray(columns[name], dtype=np.float64) for name in NUMERIC]
    numeric[1] = np.log(np.maximum(numeric[1], 1.0))
    parts = [np.column_stack(numeric)]
    for name, levels in (("region", REGIONS), ("channel", CHANNELS)):
        values = np.asarray(columns[name]).astype(str)
        parts.append((values[:, None] == np.array(levels)[None, :]).astype(np.float64))
    return np.concatenate(parts, axis=1)


@dataclass(frozen=True)
class LogisticModel:
    """A logistic regression over standardised inputs, trained by full-batch gradient descent."""

    mean: np.ndarray[Any, Any]
    scale: np.ndarray[Any, Any]
    weights: np.ndarray[Any, Any]
    bias: float

    @classmethod
    def fit(
        cls,
        batch: Batch,
        steps: int = DEFAULT_STEPS,
        learning_rate: float = DEFAULT_LEARNING_RATE,
        l2: float = DEFAULT_L2,
    ) -> LogisticModel:
        """Minimise mean log loss plus `l2`/2 |w|^2 on the batch."""
        if len(batch) == 0:
            raise ValueError("cannot train on an empty batch")
        x = design_matrix(batch.columns)
        mean, scale = x.mean(axis=0), x.std(axis=0)
        scale[scale == 0] = 1.0
        z = (x - mean) / scale
        y = batch.labels.astype(np.float64)
        w, b = np.zeros(z.shape[1]), 0.0
        for _ in range(steps):
            p = 1.0 / (1.0 + np.exp(-(z @ w + b)))
            error = p - y
            # Gradient of the mean log loss: X^T (p - y) / n, plus the ridge term.
            w -= learning_rate * (z.T @ error / y.size + l2 * w)
            b -= learning_rate * float(error.mean())
        return cls(mean, scale, w, b)

    def predict_proba(
        self, rows: Sequence[Mapping[str, Any]] | Mapping[str, Any]
    ) -> np.ndarray[Any, Any]:
        """(n, 2) probabilities of classes 0 and 1, for row objects or named columns."""
        columns = _as_columns(rows)
        missing = [name for name in (*NUMERIC, *CATEGORICAL) if name not in columns]
        if missing:
            raise ValueError(f"rows lack the features {missing}")
        z = (design_matrix(columns) - self.mean) / self.scale
        p1 = 1.0 / (1.0 + np.exp(-(z @ self.weights + self.bias)))
        return np.column_stack((1.0 - p1, p1))


def _as_columns(rows: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> dict[str, Any]:
    """Row objects to columns (a mapping of columns passes through)."""
    if isinstance(rows, Mapping):
        return dict(rows)
    names = {name for row in rows for name in row}
    return {name: [row.get(name) for row in rows] for name in names}


@dataclass(frozen=True)
class DriftSchedule:
    """When the traffic shifts: `shift_after` seconds after the start (None: never)."""

    shift_after: float | None

    def __post_init__(self) -> None:
        if self.shift_after is not None and not self.shift_after >= 0:
            raise ValueError(f"shift_after={self.shift_after!r} must be >= 0")

    def shifted(self, elapsed: float) -> bool:
        """Whether traffic `elapsed` seconds after the start is drawn from the shifted world."""
        return self.shift_after is not None and elapsed >= self.shift_after


def training_data(
    seed: int = DEFAULT_SEED, rows: int = DEFAULT_TRAINING_ROWS
) -> tuple[Batch, LogisticModel]:
    """The seeded training batch and the model trained on it."""
    batch = generate(np.random.default_rng(seed), rows)
    return batch, LogisticModel.fit(batch)


def reference_columns(batch: Batch, model: LogisticModel) -> dict[str, list[Any]]:
    """Training columns as a profile file would hold them: features, label, prediction, score."""
    columns: dict[str, list[Any]] = {
        name: values.tolist() for name, values in batch.columns.items()
    }
    columns[LABEL] = batch.labels.tolist()
    # Predicted classes as the decoders report them: the argmax index as a string.
    probabilities = model.predict_proba(batch.columns)
    columns[PREDICTION] = probabilities.argmax(axis=1).astype(str).tolist()
    columns[SCORE] = probabilities[:, 1].tolist()
    return columns
