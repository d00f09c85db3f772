"""Split one decoded column into numeric, categorical and missing parts, vectorised where possible.

A column arrives as `list[Value]` (float, str or None) or a numpy array. The fast path is a column
of numbers only: one `np.asarray` and no per-value Python work. A column holding None or str falls
back to one list pass that sorts values by type. Booleans count as numbers (decoders already turn
JSON booleans into "true"/"false" strings, so a bool here comes from a caller's numpy array).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sidecar.records import Value

FloatArray = npt.NDArray[np.float64]
ColumnData = Sequence[Value] | npt.NDArray[np.generic]
"""What a sketch accepts for one column: decoded values or a numpy array."""


@dataclass(frozen=True, slots=True)
class SplitColumn:
    """One column separated by type: finite numbers, non-finite numbers, strings and missing."""

    numbers: FloatArray
    """Finite numeric values."""
    non_finite: int
    """NaN and +/-inf values."""
    strings: list[str]
    """String values, in arrival order."""
    missing: int
    """None values."""

    @property
    def present(self) -> int:
        """Rows where the value was not None."""
        return int(self.numbers.size) + self.non_finite + len(self.strings)


def category_key(value: float | str) -> str:
    """Canonical category name: strings as-is, integral numbers without '.0', others by repr."""
    if isinstance(value, str):
        return value
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def split_column(values: ColumnData) -> SplitColumn:
    """Separate a column into finite numbers, non-finite count, strings and missing count."""
    array = np.asarray(values) if not isinstance(values, np.ndarray) else values
    if array.dtype.kind in "fiub":
        numbers = array.astype(np.float64, copy=False).ravel()
        finite = np.isfinite(numbers)
        if bool(finite.all()):
            return SplitColumn(numbers, 0, [], 0)
        kept = numbers[finite]
        return SplitColumn(kept, int(numbers.size - kept.size), [], 0)
    # numpy turns a list mixing numbers and text into all text: only a list of str alone is text.
    if array.dtype.kind == "U" and (values is array or set(map(type, values)) == {str}):
        return SplitColumn(np.empty(0), 0, [str(v) for v in array.ravel()], 0)
    if array.dtype.kind == "U":
        return _split_objects(list(values))
    return _split_objects(list(array.ravel()))


def _split_objects(values: list[object]) -> SplitColumn:
    """Slow path for mixed columns: one pass over the values sorting them by type."""
    floats: list[float] = []
    strings: list[str] = []
    missing = 0
    for value in values:
        if value is None:
            missing += 1
        elif isinstance(value, str):
            strings.append(value)
        elif isinstance(value, int | float | np.number):
            floats.append(float(value))
        else:
            strings.append(str(value))
    numbers = np.asarray(floats, dtype=np.float64)
    finite = np.isfinite(numbers)
    kept = numbers[finite]
    return SplitColumn(kept, int(numbers.size - kept.size), strings, missing)
