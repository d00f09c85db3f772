"""Sliding windows of column sketches per model, built from mergeable buckets; plus tumbling ones.

Rows land in buckets of `window_seconds / buckets` (default 300 s / 10 = 30 s) aligned to the Unix
epoch. Views at `now` (bucket b holds `now`):
- `current` (the default everywhere): buckets b - 10 .. b, the last window_seconds at bucket
  resolution (between 1 and 1.1 window_seconds), so it never starts empty at a boundary;
- `previous`: the 11 buckets before those;
- `rolling`: the `rolling_windows` (12) tumbling windows up to the one holding `now`.
Buckets older than the previous view are folded into their tumbling window (a bucket lies in
exactly one), which the rolling view merges; tumbling windows older than rolling_windows are
dropped, and rows older than what is kept count in `late_rows`. Each bucket or window holds, per
feature and prediction column, a sketch from `sidecar.sketches` (binned on the reference's edges,
or a DDSketch / bounded TopK without one), plus total rows and requests, up to
DEFAULT_MAX_UNEXPECTED unexpected feature names, and a count of columns dropped beyond
`max_columns` (default 256). Memory bound: (2 * (buckets + 1) + rolling_windows + 1) sketches per
column, i.e. 35 * max_columns * ~1.9 KiB for numeric columns (~17 MiB at the defaults),
categorical columns 8 bytes per reference category plus a bounded TopK; the column kinds kept for
merging are pruned to the kept windows' columns (names that come and go leave no trace).

`set_reference` swaps the reference. Rows, requests and every column's quality counts stay;
a column's distribution stays when the new reference bins it identically (the same profile put
again) and restarts otherwise: sketches on other edges cannot be compared with the new profile.
Time is always the `now` argument.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sidecar.reference.profile import ColumnProfile, ReferenceProfile
from sidecar.sketches.column import CategoricalColumnSketch, ColumnSketch, NumericColumnSketch
from sidecar.sketches.values import ColumnData, SplitColumn, split_column

DEFAULT_WINDOW_SECONDS = 300.0
DEFAULT_ROLLING_WINDOWS = 12
DEFAULT_MAX_COLUMNS = 256
DEFAULT_MAX_UNEXPECTED = 32
DEFAULT_BUCKETS = 10
DEFAULT_RANGE_TOLERANCE = 0.0
WINDOW_VIEWS = ("current", "previous", "rolling")
GROUPS = ("features", "predictions")


@dataclass(frozen=True)
class WindowState:
    """A frozen view of one window (or a merge of several): sketches and row totals."""

    start: float
    end: float
    rows: int = 0
    requests: int = 0
    features: Mapping[str, ColumnSketch] = field(default_factory=dict)
    predictions: Mapping[str, ColumnSketch] = field(default_factory=dict)
    unexpected_features: tuple[str, ...] = ()
    dropped_columns: int = 0

    def merged(self, other: WindowState) -> WindowState:
        """The state of both windows' rows together (counts add; spans join)."""
        groups: dict[str, dict[str, ColumnSketch]] = {}
        for group in GROUPS:
            mine: Mapping[str, ColumnSketch] = getattr(self, group)
            joined = {name: sketch.copy() for name, sketch in mine.items()}
            for name, sketch in getattr(other, group).items():
                if name in joined:
                    _merge(joined[name], sketch)
                else:
                    joined[name] = sketch.copy()
            groups[group] = joined
        unexpected = dict.fromkeys(self.unexpected_features + other.unexpected_features)
        return WindowState(
            start=min(self.start, other.start),
            end=max(self.end, other.end),
            rows=self.rows + other.rows,
            requests=self.requests + other.requests,
            features=groups["features"],
            predictions=groups["predictions"],
            unexpected_features=tuple(unexpected)[:DEFAULT_MAX_UNEXPECTED],
            dropped_columns=self.dropped_columns + other.dropped_columns,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {
            "start": self.start,
            "end": self.end,
            "rows": self.rows,
            "requests": self.requests,
            "features": {k: v.to_dict() for k, v in self.features.items()},
            "predictions": {k: v.to_dict() for k, v in self.predictions.items()},
            "unexpected_features": list(self.unexpected_features),
            "dropped_columns": self.dropped_columns,
        }

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        reference: ReferenceProfile | None,
        range_tolerance: float = DEFAULT_RANGE_TOLERANCE,
    ) -> WindowState:
        """Restore from `to_dict()` output against the reference the sketches were built on."""
        groups = {}
        for group in GROUPS:
            profiles = _profiles(reference, group)
            groups[group] = {
                name: _restore(sketch, profiles.get(name), range_tolerance)
                for name, sketch in data[group].items()
            }
        return cls(
            start=float(data["start"]),
            end=float(data["end"]),
            rows=int(data["rows"]),
            requests=int(data["requests"]),
            features=groups["features"],
            predictions=groups["predictions"],
            unexpected_features=tuple(str(n) for n in data["unexpected_features"]),
            dropped_columns=int(data["dropped_columns"]),
        )


def _merge(target: ColumnSketch, source: ColumnSketch) -> None:
    """Merge two sketches of one column; raises ValueError when their kinds differ."""
    if isinstance(target, NumericColumnSketch) and isinstance(source, NumericColumnSketch):
        target.merge(source)
    elif isinstance(target, CategoricalColumnSketch) and isinstance(
        source, CategoricalColumnSketch
    ):
        target.merge(source)
    else:
        raise ValueError(f"cannot merge a {target.kind} sketch with a {source.kind} sketch")


def _profiles(reference: ReferenceProfile | None, group: str) -> Mapping[str, ColumnProfile]:
    """The reference's columns of one group (empty without a reference)."""
    if reference is None:
        return {}
    return reference.features if group == "features" else reference.predictions


def _restore(
    data: Mapping[str, Any], profile: ColumnProfile | None, tolerance: float
) -> ColumnSketch:
    """Rebuild a column sketch from its dict form, on its reference column if any."""
    if data.get("kind") == "categorical":
        categories = None if profile is None else profile.category_names
        return CategoricalColumnSketch.from_dict(dict(data), categories)
    if profile is not None and profile.kind == "numeric":
        return NumericColumnSketch.from_dict(
            dict(data), profile.edges_array, profile.valid_range(tolerance)
        )
    return NumericColumnSketch.from_dict(dict(data))


def new_sketch(
    profile: ColumnProfile | None, kind: str, tolerance: float = DEFAULT_RANGE_TOLERANCE
) -> ColumnSketch:
    """An empty sketch for a column: on its reference column, or of `kind` without one."""
    if profile is not None and profile.kind == "categorical":
        return CategoricalColumnSketch(profile.category_names)
    if profile is not None:
        return NumericColumnSketch(profile.edges_array, profile.valid_range(tolerance))
    return CategoricalColumnSketch() if kind == "categorical" else NumericColumnSketch()


class _Window:
    """Mutable state of one tumbling window."""

    def __init__(self, start: float) -> None:
        self.start = start
        self.rows = 0
        self.requests = 0
        self.columns: dict[str, dict[str, ColumnSketch]] = {group: {} for group in GROUPS}
        self.unexpected: dict[str, None] = {}
        self.dropped = 0

    def state(self, seconds: float) -> WindowState:
        """A frozen copy."""
        return WindowState(
            start=self.start,
            end=self.start + seconds,
            rows=self.rows,
            requests=self.requests,
            features={k: v.copy() for k, v in self.columns["features"].items()},
            predictions={k: v.copy() for k, v in self.columns["predictions"].items()},
            unexpected_features=tuple(self.unexpected),
            dropped_columns=self.dropped,
        )


class WindowStore:
    """Sliding and tumbling windows of per-column sketches for one model (caller locks)."""

    def __init__(
        self,
        reference: ReferenceProfile | None = None,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        rolling_windows: int = DEFAULT_ROLLING_WINDOWS,
        max_columns: int = DEFAULT_MAX_COLUMNS,
        range_tolerance: float = DEFAULT_RANGE_TOLERANCE,
        buckets: int = DEFAULT_BUCKETS,
    ) -> None:
        if not (math.isfinite(window_seconds) and window_seconds > 0):
            raise ValueError(f"window_seconds={window_seconds!r} must be a positive number")
        for name, value in (
            ("rolling_windows", rolling_windows),
            ("max_columns", max_columns),
            ("buckets", buckets),
        ):
            if value < 1:
                raise ValueError(f"{name}={value!r} must be >= 1")
        if range_tolerance < 0:
            raise ValueError(f"range_tolerance={range_tolerance!r} must be >= 0")
        self.reference = reference
        self.window_seconds = float(window_seconds)
        self.rolling_windows = rolling_windows
        self.max_columns = max_columns
        self.range_tolerance = range_tolerance
        self.buckets = buckets
        self.bucket_seconds = self.window_seconds / buckets
        # Buckets kept unfolded: the current and the previous sliding view, buckets + 1 each.
        self._fine = 2 * (buckets + 1)
        self.late_rows = 0
        self._buckets: dict[int, _Window] = {}
        self._windows: dict[int, _Window] = {}
        self._newest: int | None = None
        self._kinds: dict[tuple[str, str], str] = {}
        """Each kept column's sketch kind, so its sketches in every window merge; pruned to the
        kept windows' columns once it holds over 2 * max_columns (names that come and go)."""

    def observed(self, group: str) -> list[str]:
        """Names of the columns of `group` ("features", "predictions") the kept windows hold."""
        kept = [*self._buckets.values(), *self._windows.values()]
        return list(dict.fromkeys(name for window in kept for name in window.columns[group]))

    @property
    def dropped_columns(self) -> int:
        """Columns not tracked in the kept windows because max_columns was reached."""
        kept = [*self._buckets.values(), *self._windows.values()]
        return sum(window.dropped for window in kept)

    def bucket_start(self, now: float) -> float:
        """Start of the sub-window bucket holding `now`."""
        return self._bucket(now) * self.bucket_seconds

    def _bucket(self, now: float) -> int:
        return math.floor(now / self.bucket_seconds)

    def _advance(self, bucket: int) -> None:
        """Move time on to `bucket`: fold aged buckets into their windows, drop old windows."""
        if self._newest is not None and bucket <= self._newest:
            return
        self._newest = bucket
        oldest_fine = bucket - self._fine + 1
        for index in [i for i in self._buckets if i < oldest_fine]:
            self._fold(index, self._buckets.pop(index))
        oldest = bucket // self.buckets - self.rolling_windows
        for index in [j for j in self._windows if j < oldest]:
            del self._windows[index]
        if len(self._kinds) > 2 * self.max_columns:
            kept = {
                (g, n)
                for w in (*self._buckets.values(), *self._windows.values())
                for g in GROUPS
                for n in w.columns[g]
            }
            self._kinds = {key: kind for key, kind in self._kinds.items() if key in kept}

    def _fold(self, bucket: int, source: _Window) -> None:
        """Merge an aged bucket into the tumbling window holding it."""
        index = bucket // self.buckets
        target = self._windows.get(index)
        if target is None:
            target = self._windows[index] = _Window(index * self.window_seconds)
        _load(target, _state_of(target, 0.0).merged(_state_of(source, 0.0)))

    def _target(self, now: float) -> _Window | None:
        """The bucket (or, if it was folded, the window) for rows at `now`; None if too old."""
        bucket = self._bucket(now)
        self._advance(bucket)
        assert self._newest is not None
        if bucket > self._newest - self._fine:
            found = self._buckets.get(bucket)
            if found is None:
                found = self._buckets[bucket] = _Window(bucket * self.bucket_seconds)
            return found
        index = bucket // self.buckets
        if index < self._newest // self.buckets - self.rolling_windows:
            return None
        window = self._windows.get(index)
        if window is None:
            window = self._windows[index] = _Window(index * self.window_seconds)
        return window

    def observe(
        self,
        features: Mapping[str, ColumnData],
        predictions: Mapping[str, ColumnData],
        n_rows: int,
        now: float,
        requests: int = 1,
    ) -> None:
        """Add decoded rows (columns of n_rows values, from `requests` requests) at `now`."""
        window = self._target(now)
        if window is None:
            self.late_rows += n_rows
            return
        window.rows += n_rows
        window.requests += requests
        for group, columns in (("features", features), ("predictions", predictions)):
            for name, values in columns.items():
                self._observe_column(window, group, name, split_column(values))

    def _observe_column(self, window: _Window, group: str, name: str, split: SplitColumn) -> None:
        """Update (or open) one column's sketch in a window, within max_columns."""
        sketches = window.columns[group]
        sketch = sketches.get(name)
        if sketch is None:
            profile = _profiles(self.reference, group).get(name)
            if group == "features" and self.reference is not None and profile is None:
                if len(window.unexpected) < DEFAULT_MAX_UNEXPECTED:
                    window.unexpected[name] = None
            tracked = sum(len(c) for c in window.columns.values())
            if tracked >= self.max_columns:
                window.dropped += 1
                return
            kind = self._kinds.setdefault((group, name), _infer_kind(split))
            sketch = sketches[name] = new_sketch(profile, kind, self.range_tolerance)
        sketch.update(split)

    def span(self, which: str, now: float) -> tuple[float, float]:
        """[start, end) of the view `which` at `now` (see the module docstring)."""
        first, last = self.bucket_range(which, now)
        width = self.bucket_seconds
        return first * width, (now if which == "current" else (last + 1) * width)

    def bucket_range(self, which: str, now: float) -> tuple[int, int]:
        """First and last bucket index of a view (a bucket's start is index * bucket_seconds)."""
        if which not in WINDOW_VIEWS:
            raise ValueError(f"window={which!r} is not one of {', '.join(WINDOW_VIEWS)}")
        bucket = self._bucket(now)
        if which == "current":
            return bucket - self.buckets, bucket
        if which == "previous":
            return bucket - 2 * self.buckets - 1, bucket - self.buckets - 1
        current = bucket // self.buckets
        first = current - (self.rolling_windows - 1)
        return first * self.buckets, (current + 1) * self.buckets - 1

    def snapshot(self, which: str, now: float) -> WindowState:
        """A frozen copy of the current (sliding), previous or rolling view at `now`."""
        first, last = self.bucket_range(which, now)
        start, end = self.span(which, now)
        state = WindowState(start=start, end=end)
        for index, bucket in sorted(self._buckets.items()):
            if first <= index <= last:
                state = state.merged(bucket.state(self.bucket_seconds))
        if which == "rolling":
            for index, window in sorted(self._windows.items()):
                if first <= index * self.buckets <= last:
                    state = state.merged(window.state(self.window_seconds))
        return replace(state, start=start, end=end)

    def set_reference(self, reference: ReferenceProfile | None) -> None:
        """Swap the reference; row counts and quality counts stay (see the module docstring)."""
        previous, self.reference = self.reference, reference
        for window in [*self._buckets.values(), *self._windows.values()]:
            for group in GROUPS:
                old, new = _profiles(previous, group), _profiles(reference, group)
                window.columns[group] = {
                    name: _rebased(sketch, old.get(name), new.get(name), self.range_tolerance)
                    for name, sketch in window.columns[group].items()
                }
            names = _profiles(reference, "features")
            unexpected = [n for n in window.columns["features"] if reference and n not in names]
            window.unexpected = dict.fromkeys(unexpected[:DEFAULT_MAX_UNEXPECTED])

    def merge(self, other: WindowStore) -> None:
        """Add another store's buckets and windows (same reference and settings), one by one."""
        if (other.window_seconds, other.buckets) != (self.window_seconds, self.buckets):
            raise ValueError("cannot merge window stores with different windows or buckets")
        for mine, theirs, seconds in (
            (self._buckets, other._buckets, self.bucket_seconds),
            (self._windows, other._windows, self.window_seconds),
        ):
            for index, window in theirs.items():
                target = mine.setdefault(index, _Window(window.start))
                _load(target, _state_of(target, seconds).merged(window.state(seconds)))
        if other._newest is not None:
            newest = other._newest if self._newest is None else max(self._newest, other._newest)
            self._newest = None
            self._advance(newest)
        self.late_rows += other.late_rows

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form of the kept buckets, windows and settings."""
        return {
            "window_seconds": self.window_seconds,
            "rolling_windows": self.rolling_windows,
            "max_columns": self.max_columns,
            "range_tolerance": self.range_tolerance,
            "buckets": self.buckets,
            "late_rows": self.late_rows,
            "newest": self._newest,
            "windows": [w.state(self.window_seconds).to_dict() for w in self._windows.values()],
            "bucket_states": [
                b.state(self.bucket_seconds).to_dict() for b in self._buckets.values()
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], reference: ReferenceProfile | None) -> WindowStore:
        """Restore `to_dict()` output against the same reference (tumbling-only form too)."""
        store = cls(
            reference,
            float(data["window_seconds"]),
            int(data["rolling_windows"]),
            int(data["max_columns"]),
            float(data["range_tolerance"]),
            int(data.get("buckets", DEFAULT_BUCKETS)),
        )
        store.late_rows = int(data["late_rows"])
        for key, target, seconds in (
            ("windows", store._windows, store.window_seconds),
            ("bucket_states", store._buckets, store.bucket_seconds),
        ):
            for raw in data.get(key, []):
                state = WindowState.from_dict(raw, reference, store.range_tolerance)
                window = _Window(state.start)
                _load(window, state)
                target[round(state.start / seconds)] = window
                for group in GROUPS:
                    for name, sketch in getattr(state, group).items():
                        store._kinds.setdefault((group, name), sketch.kind)
        newest = data.get("newest")
        if newest is None and store._windows:
            newest = (max(store._windows) + 1) * store.buckets - 1
        store._newest = None if newest is None else int(newest)
        return store


def _rebased(
    sketch: ColumnSketch,
    old: ColumnProfile | None,
    new: ColumnProfile | None,
    tolerance: float,
) -> ColumnSketch:
    """The sketch under a new reference: kept when its bins are the same, else restarted.

    A restarted sketch keeps its quality counts (rows present, missing, non-finite, type
    mismatches, out of range), so replacing the reference never changes a window's counts;
    only the distribution (on the old bins) cannot be carried over.
    """
    if old is not None and new is not None and _same_bins(old, new):
        return sketch
    fresh = new_sketch(new, sketch.kind, tolerance)
    fresh.quality.merge(sketch.quality)
    return fresh


def _same_bins(old: ColumnProfile, new: ColumnProfile) -> bool:
    """Whether two reference columns bin values identically."""
    if old.kind != new.kind:
        return False
    if old.kind == "numeric":
        return old.edges == new.edges and old.valid_range() == new.valid_range()
    return old.category_names == new.category_names


def _infer_kind(split: SplitColumn) -> str:
    """Kind of a column without a reference: categorical when it holds strings and no numbers."""
    return "categorical" if split.strings and not split.numbers.size else "numeric"


def _state_of(window: _Window, seconds: float) -> WindowState:
    """A window's state without copying (only used right before reloading it)."""
    return WindowState(
        window.start,
        window.start + seconds,
        window.rows,
        window.requests,
        window.columns["features"],
        window.columns["predictions"],
        tuple(window.unexpected),
        window.dropped,
    )


def _load(window: _Window, state: WindowState) -> None:
    """Replace a mutable window's contents with a state's."""
    window.rows, window.requests, window.dropped = state.rows, state.requests, state.dropped_columns
    window.columns = {"features": dict(state.features), "predictions": dict(state.predictions)}
    window.unexpected = dict.fromkeys(state.unexpected_features)
