"""Nested JSON lists to numpy arrays and per-row summaries, without per-value Python work.

Type checks run as `set(map(type, ...))` over each nesting level (C loops), so a list of N
numbers costs one pass before `np.asarray`. Nothing here allocates more than a constant factor
of the input: strings never go through numpy (a fixed-width unicode array of mixed lengths
could be far larger than the JSON it came from).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import chain

import numpy as np
import numpy.typing as npt

from sidecar.records import BOOLEAN_TEXT, Value

MAX_DIMS = 32
"""Deepest list nesting turned into an array; deeper input is not numeric here."""
SUMMARY_STATISTICS = ("mean", "std", "min", "max", "l2")

FloatArray = npt.NDArray[np.float64]
_NUMBER_TYPES = frozenset({int, float})


def to_value(value: object) -> Value:
    """One JSON scalar as a cell: numbers -> float, booleans -> "true"/"false", else None."""
    kind = type(value)
    if kind is float or kind is str:
        return value  # type: ignore[return-value]
    if kind is int:
        return int_to_float(value)  # type: ignore[arg-type]
    if kind is bool:
        return BOOLEAN_TEXT[value]  # type: ignore[index]
    return None


def int_to_float(value: int) -> float:
    """`float(value)`, with integers beyond the float range becoming +-inf instead of raising."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def flatten_nested(values: Sequence[object]) -> tuple[list[object], list[int]] | None:
    """Row-major leaves and shape of a rectangular nested list, or None when ragged/too deep."""
    flat: list[object] = list(values)
    shape = [len(flat)]
    while flat:
        kinds = set(map(type, flat))
        if list not in kinds:
            break
        if kinds != {list} or len(shape) >= MAX_DIMS:
            return None
        lengths = set(map(len, flat))  # type: ignore[arg-type]
        if len(lengths) != 1:
            return None
        shape.append(lengths.pop())
        flat = list(chain.from_iterable(flat))  # type: ignore[arg-type]
    return flat, shape


def numeric_array(values: Sequence[object]) -> FloatArray | None:
    """A float64 array of a rectangular nested list of JSON numbers, else None."""
    nested = flatten_nested(values)
    if nested is None:
        return None
    flat, shape = nested
    if not set(map(type, flat)) <= _NUMBER_TYPES:
        return None
    try:
        return np.asarray(flat, dtype=np.float64).reshape(shape)
    except OverflowError:
        # Integers beyond float64: rare, so convert them one by one.
        exact = [int_to_float(v) if type(v) is int else v for v in flat]
        return np.asarray(exact, dtype=np.float64).reshape(shape)


def is_string_list(values: Sequence[object]) -> bool:
    """Whether every element is a str (an empty list is not)."""
    return bool(values) and set(map(type, values)) == {str}


def summarise_rows(matrix: FloatArray) -> dict[str, list[Value]]:
    """Mean, population std, min, max and L2 norm of each row of an (N, k>0) matrix."""
    with np.errstate(all="ignore"):
        stats = (
            matrix.mean(axis=1),
            matrix.std(axis=1),
            matrix.min(axis=1),
            matrix.max(axis=1),
            np.sqrt(np.square(matrix).sum(axis=1)),
        )
    return {name: stat.tolist() for name, stat in zip(SUMMARY_STATISTICS, stats, strict=True)}


def probability_rows(matrix: FloatArray, tolerance: float = 1e-3) -> bool:
    """Whether every row of an (N, C>1) matrix is a probability vector (>= 0, sums to ~1)."""
    if matrix.ndim != 2 or matrix.shape[1] < 2 or matrix.shape[0] == 0:
        return False
    if not np.isfinite(matrix).all() or (matrix < 0).any():
        return False
    return bool(np.abs(matrix.sum(axis=1) - 1.0).max() <= tolerance)
