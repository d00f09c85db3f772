"""Performance and fairness per window: predictions at serving time, labels when they arrive.

`OutcomeWindows` keeps one `PerformanceState` and one `FairnessState` per bucket of
`window_seconds / buckets` (default 300 s / 10 = 30 s) for the most recent 2 * (buckets + 1)
buckets, and per tumbling window of `window_seconds` before that (older buckets are folded into
the window holding them, exactly: the states are mergeable counts). A prediction is counted in
the bucket in which it was made (label-free confidence and group selection rates); its label,
whenever it arrives, is scored in that same bucket, or in its window once the bucket was folded,
so figures fill in as feedback comes. The views match the drift windows' (`sidecar.windows`):
`current` is the last `window_seconds` at bucket resolution (buckets b - 10 .. b), so it never
starts empty at a window boundary; `previous` the 11 buckets before; `rolling` the last
`rolling_windows` tumbling windows; a start time one tumbling window.

Bounds: at most `max_windows` windows (default 288, 24 h of 5-minute windows, matching the
prediction store's TTL) plus 22 buckets; each is at most about 40 kB (a 65 x 65 confusion
matrix plus fairness counts). Labels for a window older than that are dropped and counted in
`late_labels`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sidecar.outcomes.calibration import OutcomeProfile
from sidecar.outcomes.counts import DEFAULT_LOW_CONFIDENCE, DEFAULT_MAX_CLASSES
from sidecar.outcomes.estimate import record_vectors
from sidecar.outcomes.fairness import (
    DEFAULT_MAX_GROUPS,
    DEFAULT_MIN_GROUP_SIZE,
    FairnessReport,
    FairnessState,
    fairness_report,
)
from sidecar.outcomes.labels import (
    CLASSIFICATION,
    DEFAULT_THRESHOLD,
    PROBABILITY,
    SCORES,
    TASKS,
    apply_threshold,
    class_key,
    class_position,
    confidence,
    infer_task,
    is_score,
)
from sidecar.outcomes.performance import (
    DEFAULT_MIN_COUNT,
    PerformanceReport,
    PerformanceState,
    ReferenceContext,
    performance_report,
)
from sidecar.outcomes.predictions import MATCHED, JoinOutcome, Probability
from sidecar.records import Value

DEFAULT_WINDOW_SECONDS = 300.0
DEFAULT_ROLLING_WINDOWS = 12
DEFAULT_MAX_WINDOWS = 288
DEFAULT_FAVOURABLE = "1"
DEFAULT_BUCKETS = 10
"""Buckets per window: the drift windows' default (`sidecar.windows.DEFAULT_BUCKETS`)."""


@dataclass
class _Window:
    performance: PerformanceState
    fairness: FairnessState


@dataclass(frozen=True)
class OutcomeSnapshot:
    """Performance and fairness reports for one view: [window_start, window_end), and how
    many tumbling windows its recorded rows fall in."""

    window_start: float
    window_end: float
    windows: int
    performance: PerformanceReport
    fairness: FairnessReport | None

    def to_json(self) -> dict[str, Any]:
        """A dict of plain JSON types."""
        return {
            "window_start": self.window_start,
            "window_end": self.window_end,
            "windows": self.windows,
            "performance": self.performance.to_json(),
            "fairness": None if self.fairness is None else self.fairness.to_json(),
        }


class OutcomeWindows:
    """Windows of performance and fairness state for one model."""

    def __init__(
        self,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        rolling_windows: int = DEFAULT_ROLLING_WINDOWS,
        task: str | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        favourable: Value = DEFAULT_FAVOURABLE,
        attributes: Sequence[str] = (),
        *,
        class_names: Sequence[str] | None = None,
        low_confidence: float = DEFAULT_LOW_CONFIDENCE,
        max_windows: int = DEFAULT_MAX_WINDOWS,
        max_classes: int = DEFAULT_MAX_CLASSES,
        max_groups: int = DEFAULT_MAX_GROUPS,
        min_count: int = DEFAULT_MIN_COUNT,
        min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
        scores: str | None = None,
        buckets: int = DEFAULT_BUCKETS,
    ) -> None:
        if not window_seconds > 0:
            raise ValueError(f"window_seconds={window_seconds!r} must be positive")
        if task is not None and task not in TASKS:
            raise ValueError(f"task={task!r} is not one of {TASKS}")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold={threshold!r} is not in [0, 1]")
        if scores is not None and scores not in SCORES:
            raise ValueError(f"scores={scores!r} is not one of {SCORES}")
        favourable_key = class_key(favourable)
        if favourable_key is None:
            raise ValueError(f"favourable={favourable!r} is not a class label")
        self.window_seconds = float(window_seconds)
        self.rolling_windows = max(1, rolling_windows)
        self.max_windows = max(self.rolling_windows, max_windows)
        self.task = task
        self.threshold = threshold
        self.favourable = favourable_key
        self.attributes = tuple(attributes)
        self.class_names = None if class_names is None else [str(c) for c in class_names]
        self.low_confidence = low_confidence
        self.max_classes = max_classes
        self.max_groups = max_groups
        self.min_count = min_count
        self.min_group_size = min_group_size
        self.late_labels = 0
        self.scores = scores
        self.reference: OutcomeProfile | None = None
        self.buckets = max(1, buckets)
        self.bucket_seconds = self.window_seconds / self.buckets
        self._fine_span = 2 * (self.buckets + 1)
        self._windows: dict[float, _Window] = {}
        """Tumbling windows by start."""
        self._fine: dict[int, _Window] = {}
        """The newest `_fine_span` buckets by index (start = index * bucket_seconds)."""
        self._newest: int | None = None
        """Index of the newest bucket that rows were recorded in."""

    def set_reference(self, reference: OutcomeProfile | None) -> None:
        """Calibrate later predictions on the reference's maps (None: raw probabilities)."""
        self.reference = reference

    @property
    def probabilities(self) -> bool:
        """Whether single scores, 0.0 and 1.0 included, are probabilities of class 1."""
        if self.scores is not None:
            return self.scores == PROBABILITY
        return self.reference is not None

    def window_start(self, now: float) -> float:
        """Start of the tumbling window containing `now`."""
        return self._window_index(now) * self.window_seconds

    def _window_index(self, now: float) -> int:
        """Index of the window holding `now`; a start within rounding of k * window is window k
        (13.37 s windows: 100000010 * 13.37 / 13.37 is 100000009.99999999, two units in the last
        place short; the tolerance scales with the position, as rounding does)."""
        position = now / self.window_seconds
        nearest = round(position)
        return nearest if abs(position - nearest) <= 2 * math.ulp(nearest) else math.floor(position)

    def _bucket(self, now: float) -> int:
        """Bucket index of `now`; buckets never straddle a window boundary."""
        window = self._window_index(now)
        within = math.floor((now - window * self.window_seconds) / self.bucket_seconds)
        return window * self.buckets + min(max(within, 0), self.buckets - 1)

    def _new(self) -> _Window:
        return _Window(
            PerformanceState.empty(self.max_classes, self.low_confidence),
            FairnessState(self.attributes, self.favourable, self.max_groups),
        )

    def _advance(self, bucket: int) -> None:
        """Move time on to `bucket`: fold buckets that left the fine span into their windows."""
        if self._newest is not None and bucket <= self._newest:
            return
        self._newest = bucket
        for index in [i for i in self._fine if i <= bucket - self._fine_span]:
            self._fold(index, self._fine.pop(index))
        self._drop_old()

    def _fold(self, index: int, bucket: _Window) -> None:
        self._add(self._window((index // self.buckets) * self.window_seconds), bucket)

    def _slot(self, key: float) -> _Window | None:
        """The bucket starting at `key` while it is kept, else its window (None: too old, or
        after the newest bucket recorded, which only a corrupt key can be)."""
        index = round(key / self.bucket_seconds)
        found = self._fine.get(index)
        if found is not None:
            return found
        if self._newest is not None and index > self._newest:
            return None
        if self._newest is not None and index > self._newest - self._fine_span:
            found = self._fine[index] = self._new()
            return found
        return self._window((index // self.buckets) * self.window_seconds)

    def _window(self, start: float) -> _Window | None:
        window = self._windows.get(start)
        if window is not None:
            return window
        if start <= self._cutoff(start):
            return None
        window = self._windows[start] = self._new()
        self._drop_old()
        return window

    def _cutoff(self, start: float = -math.inf) -> float:
        """Windows starting at or before this have left the retention span."""
        newest = max(self._windows, default=start)
        if self._newest is not None:
            newest = max(newest, (self._newest // self.buckets) * self.window_seconds)
        return newest - self.max_windows * self.window_seconds

    def _drop_old(self) -> None:
        cutoff = self._cutoff()
        for old in [s for s in self._windows if s <= cutoff]:
            del self._windows[old]

    def _classes(
        self, predictions: Sequence[Value], probabilities: Sequence[Probability] | None
    ) -> tuple[list[str | None], list[Probability]]:
        probs: Sequence[Probability] = probabilities or [None] * len(predictions)
        keys: list[str | None] = []
        vectors: list[Probability] = []
        for value, prob in zip(predictions, probs, strict=True):
            key, prob = apply_threshold(value, prob, self.threshold, self.probabilities)
            if key is None and isinstance(prob, tuple) and prob:
                key = self._class_at(prob.index(max(prob)))
            keys.append(key)
            vectors.append(prob)
        return keys, vectors

    def _class_at(self, position: int) -> str:
        names = self.class_names
        return names[position] if names is not None and position < len(names) else str(position)

    def _position(self, key: str, width: int) -> int | None:
        return class_position(key, width, self.class_names)

    def _ensure_task(self, predictions: Sequence[Value]) -> str:
        if self.task is None and any(v is not None for v in predictions):
            # Scores known to be probabilities are a classifier's, however many distinct values.
            scored = self.probabilities and all(v is None or is_score(v, True) for v in predictions)
            self.task = CLASSIFICATION if scored else infer_task(predictions)
        return self.task or CLASSIFICATION

    def record_prediction(
        self,
        now: float,
        predictions: Sequence[Value],
        probabilities: Sequence[Probability] | None = None,
        groups: Sequence[tuple[str, ...]] | None = None,
    ) -> float:
        """Count label-free confidence and group selection; returns the key to store with it
        (its bucket's start)."""
        bucket = self._bucket(now)
        self._advance(bucket)
        start = bucket * self.bucket_seconds
        window = self._slot(start)
        task = self._ensure_task(predictions)
        if window is None or task != CLASSIFICATION:
            return start
        keys, vectors = self._classes(predictions, probabilities)
        confidences = [confidence(k, v, self.threshold) for k, v in zip(keys, vectors, strict=True)]
        window.performance.confidence.update([c for c in confidences if c is not None])
        calibration = None if self.reference is None else self.reference.calibration
        record_vectors(window.performance.estimate, keys, vectors, self.class_names, calibration)
        if groups is not None and self.attributes:
            window.fairness.update_predictions(groups, keys)
        return start

    def record_labels(
        self,
        window_start: float,
        predictions: Sequence[Value],
        labels: Sequence[Value],
        probabilities: Sequence[Probability] | None = None,
        groups: Sequence[tuple[str, ...]] | None = None,
    ) -> bool:
        """Score labels where the predictions were made (`window_start` is the key
        `record_prediction` returned); False if that window is gone."""
        window = self._slot(window_start)
        if window is None:
            self.late_labels += len(labels)
            return False
        if self._ensure_task(predictions) != CLASSIFICATION:
            pairs = [(_number(y), _number(p)) for y, p in zip(labels, predictions, strict=True)]
            kept = [(y, p) for y, p in pairs if y is not None and p is not None]
            window.performance.regression.update([y for y, _ in kept], [p for _, p in kept])
            return True
        keys, vectors = self._classes(predictions, probabilities)
        true = [class_key(y) for y in labels]
        both = [(t, k) for t, k in zip(true, keys, strict=True) if t is not None and k is not None]
        window.performance.classification.update([t for t, _ in both], [k for _, k in both])
        scored = [
            (pos, v)
            for t, v in zip(true, vectors, strict=True)
            if t is not None
            and isinstance(v, tuple)
            and (pos := self._position(t, len(v))) is not None
        ]
        window.performance.classification.update_scores(
            [pos for pos, _ in scored], [v for _, v in scored]
        )
        two = [(pos, v) for pos, v in scored if len(v) == 2]
        window.performance.classification.update_auc(
            [v[1] for _, v in two], [pos == 1 for pos, _ in two]
        )
        if groups is not None and self.attributes:
            window.fairness.update_labels(groups, keys, true)
        return True

    def record_join(self, outcome: JoinOutcome) -> bool:
        """Score a matched `PredictionStore.join` outcome; other outcomes are ignored."""
        if outcome.status != MATCHED or outcome.window_start is None:
            return False
        return self.record_labels(
            outcome.window_start,
            outcome.predictions,
            outcome.labels,
            outcome.probabilities,
            outcome.groups,
        )

    def record_joins(self, outcomes: Iterable[JoinOutcome]) -> int:
        """Score many matched joins at once (one vectorised update per window); returns rows."""
        by_window: dict[float, list[JoinOutcome]] = {}
        for outcome in outcomes:
            if outcome.status == MATCHED and outcome.window_start is not None:
                by_window.setdefault(outcome.window_start, []).append(outcome)
        rows = 0
        for start, joins in by_window.items():
            has_probs = any(j.probabilities is not None for j in joins)
            has_groups = all(j.groups is not None for j in joins)
            self.record_labels(
                start,
                [p for j in joins for p in j.predictions],
                [y for j in joins for y in j.labels],
                [p for j in joins for p in (j.probabilities or [None] * len(j.predictions))]
                if has_probs
                else None,
                [g for j in joins for g in (j.groups or ())] if has_groups else None,
            )
            rows += sum(len(j.labels) for j in joins)
        return rows

    def snapshot(self, which: str | float, now: float) -> OutcomeSnapshot:
        """Reports for `current` (the sliding window), `previous` (the one before it),
        `rolling` (the last `rolling_windows` tumbling windows) or a window's start."""
        bucket = self._bucket(now)
        if which in ("current", "previous"):
            last = bucket if which == "current" else bucket - self.buckets - 1
            first = last - self.buckets
            # Every bucket of both views is within the fine span: nothing of them is folded.
            chosen = [w for i, w in self._fine.items() if first <= i <= last]
            spanned = {i // self.buckets for i in self._fine if first <= i <= last}
            start = first * self.bucket_seconds
            end = now if which == "current" else (last + 1) * self.bucket_seconds
        else:
            newest = bucket // self.buckets
            if which == "rolling":
                oldest = newest - (self.rolling_windows - 1)
            else:
                try:
                    oldest = newest = self._window_index(float(which))
                except ValueError:
                    raise ValueError(
                        f"window {which!r} is not 'current', 'previous', 'rolling' or a start time"
                    ) from None
            starts = {
                s: round(s / self.window_seconds)
                for s in self._windows
                if oldest <= round(s / self.window_seconds) <= newest
            }
            chosen = [self._windows[s] for s in starts]
            chosen += [w for i, w in self._fine.items() if oldest <= i // self.buckets <= newest]
            spanned = set(starts.values()) | {
                i // self.buckets for i in self._fine if oldest <= i // self.buckets <= newest
            }
            start, end = oldest * self.window_seconds, (newest + 1) * self.window_seconds
        merged = self._new()
        for window in chosen:
            merged.performance.merge(window.performance)
            merged.fairness.merge(window.fairness)
        task = self.task or CLASSIFICATION
        expected = merged.performance.estimate.expected
        width = 0 if expected is None else expected.shape[0]
        fairness = None
        if self.attributes and task == CLASSIFICATION:
            fairness = fairness_report(merged.fairness, self.favourable, self.min_group_size)
        return OutcomeSnapshot(
            window_start=start,
            window_end=end,
            windows=len(spanned),
            performance=performance_report(
                merged.performance,
                task,
                self.min_count,
                [self._class_at(k) for k in range(width)],
                self._context(width),
            ),
            fairness=fairness,
        )

    def _context(self, width: int) -> ReferenceContext:
        """The reference's figures and low-confidence share; calibrated if its classes fit."""
        ref = self.reference
        if ref is None:
            return ReferenceContext()
        share = ref.low_confidence_share(self.low_confidence, self.threshold)
        fits = width in (0, len(ref.classes))
        return ReferenceContext(fits, dict(ref.metrics), share, ref.rows if fits else 0)

    def merge(self, other: OutcomeWindows) -> None:
        """Add another replica's windows (same configuration) into this one."""
        if (other.window_seconds, other.buckets, other.attributes, other.favourable) != (
            self.window_seconds,
            self.buckets,
            self.attributes,
            self.favourable,
        ):
            raise ValueError("cannot merge outcome windows with a different configuration")
        self.task = self.task or other.task
        self.late_labels += other.late_labels
        if other._newest is not None:
            self._advance(other._newest)
        for start in sorted(other._windows):
            self._add(self._window(start), other._windows[start])
        for index in sorted(other._fine):
            self._add(self._slot(index * self.bucket_seconds), other._fine[index])

    @staticmethod
    def _add(target: _Window | None, source: _Window) -> None:
        if target is not None:
            target.performance.merge(source.performance)
            target.fairness.merge(source.fairness)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types: the task, late labels, each window's and kept bucket's state."""
        return {
            "task": self.task,
            "late_labels": self.late_labels,
            "windows": [
                [s, w.performance.to_dict(), w.fairness.to_dict()]
                for s, w in sorted(self._windows.items())
            ],
            "newest": self._newest,
            "buckets": [
                [i, w.performance.to_dict(), w.fairness.to_dict()]
                for i, w in sorted(self._fine.items())
            ],
        }

    def load_dict(self, data: dict[str, Any]) -> None:
        """Replace this object's state with one written by `to_dict` (configuration stays;
        a state written before buckets existed has windows only)."""
        self.task = data["task"]
        self.late_labels = int(data["late_labels"])
        self._windows = {
            float(s): _Window(PerformanceState.from_dict(p), FairnessState.from_dict(f))
            for s, p, f in data["windows"]
        }
        self._fine = {
            int(i): _Window(PerformanceState.from_dict(p), FairnessState.from_dict(f))
            for i, p, f in data.get("buckets", [])
        }
        newest = data.get("newest")
        self._newest = None if newest is None else int(newest)


def _number(value: Value) -> float | None:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    return value if value is not None and math.isfinite(value) else None
