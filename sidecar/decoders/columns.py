"""Building equal-length columns from tensors and JSON rows, within the option caps.

A `ColumnSet` holds at most `max_features` columns of exactly `n_rows` cells, so its size is
bounded by `max_features * n_rows` cells whatever it is fed; anything over a cap (more columns,
objects nested deeper than `max_depth`, wide non-numeric lists) is dropped and `truncated` is
set. Naming: positional values are `f0..fN` at the top of a row (or the configured
`feature_names`), `<name>.<j>` below a name, `<name>` alone for a single column; nested
objects use dotted keys; a numeric list wider than `max_width` becomes `<name>.mean`, `.std`,
`.min`, `.max` and `.l2` (`input.*` when it has no name).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from sidecar.decoders.arrays import (
    FloatArray,
    is_string_list,
    numeric_array,
    summarise_rows,
    to_value,
)
from sidecar.decoders.base import DecodeOptions
from sidecar.records import Columns, Value

DEFAULT_UNNAMED = "input"
"""Prefix for the summary of a wide row that has no name of its own."""


def position_name(prefix: str, j: int, width: int, names: Sequence[str] | None) -> str:
    """The column name of position `j` of a `width`-wide value under `prefix`."""
    if names is not None and j < len(names):
        return names[j]
    if not prefix:
        return f"f{j}"
    return prefix if width == 1 else f"{prefix}.{j}"


@functools.lru_cache(maxsize=1024)
def _position_names(prefix: str, width: int, names: tuple[str, ...] | None) -> tuple[str, ...]:
    return tuple(position_name(prefix, j, width, names) for j in range(width))


class ColumnSet:
    """Columns of `n_rows` cells each, at most `max_columns` of them."""

    def __init__(self, n_rows: int, options: DecodeOptions) -> None:
        self.n_rows = n_rows
        self.options = options
        self.columns: Columns = {}
        self.truncated = False

    def room(self) -> int:
        """How many more columns fit."""
        return self.options.max_features - len(self.columns)

    def add(self, name: str, values: list[Value]) -> None:
        """Add (or replace) one column of `n_rows` values, unless the cap is reached."""
        if name not in self.columns and self.room() <= 0:
            self.truncated = True
            return
        self.columns[name] = values

    def add_matrix(
        self, prefix: str, matrix: FloatArray, names: Sequence[str] | None = None
    ) -> None:
        """Add the columns of a numeric (n_rows, k) matrix; rows wider than max_width summarised."""
        width = matrix.shape[1]
        if width == 0:
            return
        if width > self.options.max_width and names is None:
            base = prefix or DEFAULT_UNNAMED
            for stat, column in summarise_rows(matrix).items():
                self.add(f"{base}.{stat}", column)
            return
        if width > self.room():
            self.truncated = True
            matrix = matrix[:, : max(self.room(), 0)]
        labels = _position_names(prefix, width, None if names is None else tuple(names))
        # One update for the whole matrix: per-column calls were 40% of decoding a 20-wide row.
        self.columns.update(zip(labels, matrix.T.tolist(), strict=False))

    def add_tensor(
        self, prefix: str, values: Sequence[object], names: Sequence[str] | None = None
    ) -> None:
        """Add `n_rows` per-row values (scalars, lists or objects) under `prefix`."""
        if self.n_rows == 0:
            return
        array = numeric_array(values)
        if array is not None and array.shape[0] == self.n_rows:
            if array.ndim == 1:
                self.add(position_name(prefix, 0, 1, names), array.tolist())
            else:
                self.add_matrix(prefix, array.reshape(self.n_rows, -1), names)
            return
        if is_string_list(values):
            self.add(position_name(prefix, 0, 1, names), list(values))  # type: ignore[arg-type]
            return
        self.add_rows(values, prefix, names)

    def add_rows(
        self, rows: Sequence[object], prefix: str = "", names: Sequence[str] | None = None
    ) -> None:
        """Flatten each row (object, list or scalar) and add the union of their columns."""
        limit = self.room()
        flattener = _Flattener(self.options, limit, names)
        flat = [flattener.row(row, prefix) for row in rows]
        keys: dict[str, None] = {}
        for row in flat:
            keys.update(dict.fromkeys(row))
        if len(keys) > limit:
            flattener.truncated = True
            keys = dict.fromkeys(list(keys)[:limit])
        self.truncated = self.truncated or flattener.truncated
        for key in keys:
            self.add(key, [row.get(key) for row in flat])


class _Flattener:
    """Flattens one JSON row into dotted-name cells, bounded in depth and width."""

    def __init__(self, options: DecodeOptions, limit: int, names: Sequence[str] | None) -> None:
        self.options = options
        self.limit = limit
        self.names = names
        self.truncated = False

    def row(self, value: object, prefix: str) -> dict[str, Value]:
        """The cells of one row."""
        out: dict[str, Value] = {}
        if self.limit > 0:
            self._value(value, prefix, 0, out, self.names)
        else:
            self.truncated = True
        return out

    def _value(
        self,
        value: object,
        name: str,
        depth: int,
        out: dict[str, Value],
        names: Sequence[str] | None,
    ) -> None:
        if len(out) >= self.limit:
            self.truncated = True
        elif isinstance(value, dict):
            self._object(value, name, depth, out)
        elif isinstance(value, list):
            self._list(value, name, depth, out, names)
        else:
            out[position_name(name, 0, 1, names)] = to_value(value)

    def _object(
        self, value: dict[str, object], name: str, depth: int, out: dict[str, Value]
    ) -> None:
        if depth >= self.options.max_depth and value:
            self.truncated = True
            return
        for key, item in value.items():
            self._value(item, f"{name}.{key}" if name else key, depth + 1, out, None)

    def _list(
        self,
        value: list[object],
        name: str,
        depth: int,
        out: dict[str, Value],
        names: Sequence[str] | None,
    ) -> None:
        array = numeric_array(value) if len(value) > 1 else None
        wide = len(value) > self.options.max_width or (
            array is not None and array.size > self.options.max_width
        )
        if wide and names is None:
            if array is None or array.size == 0:
                self.truncated = True
                return
            for stat, cells in summarise_rows(array.reshape(1, -1)).items():
                out[f"{name or DEFAULT_UNNAMED}.{stat}"] = cells[0]
            return
        if depth >= self.options.max_depth and value:
            self.truncated = True
            return
        width = len(value)
        for j, item in enumerate(value):
            self._value(item, position_name(name, j, width, names), depth + 1, out, None)
            if len(out) >= self.limit:
                self.truncated = self.truncated or j + 1 < width
                return


def as_matrix(values: Sequence[object], n_rows: int) -> FloatArray | None:
    """`values` as a numeric (n_rows, k) matrix when they are rectangular numbers, else None."""
    array = numeric_array(values)
    if array is None or array.ndim == 0 or array.shape[0] != n_rows:
        return None
    return array.reshape(n_rows, -1) if n_rows else np.zeros((0, 0))
