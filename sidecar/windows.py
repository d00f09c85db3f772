"""Tumbling windows of column sketches per model, with current, previous and rolling views.

Windows are aligned to multiples of `window_seconds` since the Unix epoch (default 300 s); the
last `rolling_windows` (default 12) are kept and the rolling view merges them. Each window holds,
per feature and prediction column, a sketch from `sidecar.sketches` (binned on the reference's
edges, or a DDSketch / bounded TopK without one), plus total rows and requests, up to
DEFAULT_MAX_UNEXPECTED unexpected feature names, and a count of columns dropped beyond
`max_columns` (default 256). Rows older than the oldest kept window are counted in `late_rows`
and dropped. Memory bound: rolling_windows * max_columns * ~4 KiB for numeric columns (~12 MiB at
the defaults), categorical columns 8 bytes per reference category plus a bounded TopK.

`set_reference` swaps the reference and clears every kept window's column sketches (their row
and request totals stay): sketches on the old edges cannot be compared with the new profile.
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


def _empty(start: float, seconds: float) -> WindowState:
    """A window with nothing in it yet."""
    return WindowState(start=start, end=start + seconds, features={}, predictions={})


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
    """Tumbling windows of per-column sketches for one model (not thread-safe: caller locks)."""

    def __init__(
        self,
        reference: ReferenceProfile | None = None,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        rolling_windows: int = DEFAULT_ROLLING_WINDOWS,
        max_columns: int = DEFAULT_MAX_COLUMNS,
        range_tolerance: float = DEFAULT_RANGE_TOLERANCE,
    ) -> None:
        if not (math.isfinite(window_seconds) and window_seconds > 0):
            raise ValueError(f"window_seconds={window_seconds!r} must be a positive number")
        for name, value in (("rolling_windows", rolling_windows), ("max_columns", max_columns)):
            if value < 1:
                raise ValueError(f"{name}={value!r} must be >= 1")
        if range_tolerance < 0:
            raise ValueError(f"range_tolerance={range_tolerance!r} must be >= 0")
        self.reference = reference
        self.window_seconds = float(window_seconds)
        self.rolling_windows = rolling_windows
        self.max_columns = max_columns
        self.range_tolerance = range_tolerance
        self.late_rows = 0
        self._windows: list[_Window] = []
        self._kinds: dict[tuple[str, str], str] = {}

    @property
    def dropped_columns(self) -> int:
        """Columns not tracked in the kept windows because max_columns was reached."""
        return sum(window.dropped for window in self._windows)

    def window_start(self, now: float) -> float:
        """Start of the tumbling window holding `now`."""
        return math.floor(now / self.window_seconds) * self.window_seconds

    def _window(self, now: float) -> _Window | None:
        """The kept window for `now`, opening a new one when time moved on (None if too old)."""
        start = self.window_start(now)
        if not self._windows or start > self._windows[-1].start:
            self._windows.append(_Window(start))
            self._trim()
            return self._windows[-1]
        if start <= self._windows[-1].start - self.rolling_windows * self.window_seconds:
            return None
        for window in self._windows:
            if window.start == start:
                return window
        # A gap window (no rows arrived in it before a later one opened) opens late.
        self._windows.append(_Window(start))
        self._windows.sort(key=lambda w: w.start)
        return next(w for w in self._windows if w.start == start)

    def _trim(self) -> None:
        """Keep only windows within rolling_windows of the newest one."""
        oldest = self._windows[-1].start - (self.rolling_windows - 1) * self.window_seconds
        self._windows = [w for w in self._windows if w.start >= oldest]

    def observe(
        self,
        features: Mapping[str, ColumnData],
        predictions: Mapping[str, ColumnData],
        n_rows: int,
        now: float,
        requests: int = 1,
    ) -> None:
        """Add decoded rows (columns of n_rows values, from `requests` requests) at `now`."""
        window = self._window(now)
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

    def snapshot(self, which: str, now: float) -> WindowState:
        """A frozen copy of the current, previous or rolling (last N windows) view at `now`."""
        if which not in WINDOW_VIEWS:
            raise ValueError(f"window={which!r} is not one of {WINDOW_VIEWS}")
        current = self.window_start(now)
        seconds = self.window_seconds
        if which != "rolling":
            start = current if which == "current" else current - seconds
            for window in self._windows:
                if window.start == start:
                    return window.state(seconds)
            return _empty(start, seconds)
        first = current - (self.rolling_windows - 1) * seconds
        state = _empty(first, seconds)
        for window in self._windows:
            if first <= window.start <= current:
                state = state.merged(window.state(seconds))
        return replace(state, start=first, end=current + seconds)

    def set_reference(self, reference: ReferenceProfile | None) -> None:
        """Swap the reference; kept windows lose their column sketches (see module docstring)."""
        self.reference = reference
        self._kinds.clear()
        for window in self._windows:
            window.columns = {group: {} for group in GROUPS}
            window.unexpected.clear()

    def merge(self, other: WindowStore) -> None:
        """Add another store's windows (same reference and window length) window by window."""
        if other.window_seconds != self.window_seconds:
            raise ValueError("cannot merge window stores with different window lengths")
        for theirs in other._windows:
            mine = next((w for w in self._windows if w.start == theirs.start), None)
            if mine is None:
                mine = _Window(theirs.start)
                self._windows.append(mine)
            state = _state_of(mine, self.window_seconds).merged(theirs.state(self.window_seconds))
            _load(mine, state)
        self._windows.sort(key=lambda w: w.start)
        self._trim()
        self.late_rows += other.late_rows

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form of the kept windows and settings."""
        return {
            "window_seconds": self.window_seconds,
            "rolling_windows": self.rolling_windows,
            "max_columns": self.max_columns,
            "range_tolerance": self.range_tolerance,
            "late_rows": self.late_rows,
            "windows": [w.state(self.window_seconds).to_dict() for w in self._windows],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], reference: ReferenceProfile | None) -> WindowStore:
        """Restore a store saved by `to_dict()` against the same reference."""
        store = cls(
            reference,
            float(data["window_seconds"]),
            int(data["rolling_windows"]),
            int(data["max_columns"]),
            float(data["range_tolerance"]),
        )
        store.late_rows = int(data["late_rows"])
        for raw in data["windows"]:
            state = WindowState.from_dict(raw, reference, store.range_tolerance)
            window = _Window(state.start)
            _load(window, state)
            store._windows.append(window)
            for group in GROUPS:
                for name, sketch in getattr(state, group).items():
                    store._kinds.setdefault((group, name), sketch.kind)
        return store


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
