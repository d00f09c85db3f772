"""Per-column window sketches: data-quality counts plus a numeric or categorical distribution.

A numeric column keeps `Moments`, and either `BinnedCounts` on its reference's edges or, with no
reference, a `DDSketch`. A categorical column keeps `CategoricalCounts`. Both keep the counts
data quality needs: rows with the key present, missing (None), non-finite (NaN/inf), type
mismatch (a str in a numeric column, a number in a categorical one) and out of range (outside the
reference's [min - tol * range, max + tol * range]). Memory: a numeric column with the default 100
reference bins (+ 12 tail bins) holds <= 1.9 KiB (<= 4 KiB), without a reference <= 4 KiB of
DDSketch buckets; a categorical column holds 8 bytes per reference category plus its bounded TopK.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from sidecar.sketches.binned import BinnedCounts
from sidecar.sketches.categorical import CategoricalCounts
from sidecar.sketches.moments import Moments
from sidecar.sketches.quantile import DDSketch
from sidecar.sketches.values import FloatArray, SplitColumn, category_key

DEFAULT_UNREFERENCED_CAPACITY = 100


@dataclass(slots=True)
class Quality:
    """Data-quality counts of one column in one window."""

    present: int = 0
    missing: int = 0
    non_finite: int = 0
    type_mismatch: int = 0
    out_of_range: int = 0

    def merge(self, other: Quality) -> None:
        """Add another window's counts."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def to_dict(self) -> dict[str, int]:
        """Plain JSON form."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Quality:
        """Restore from `to_dict()` output."""
        return cls(**{f.name: int(data[f.name]) for f in fields(cls)})


class NumericColumnSketch:
    """Quality counts, moments, and reference-binned counts (or a DDSketch without reference)."""

    kind = "numeric"
    __slots__ = ("binned", "moments", "quality", "quantiles", "valid_range")

    def __init__(
        self, edges: FloatArray | None = None, valid_range: tuple[float, float] | None = None
    ) -> None:
        self.quality = Quality()
        self.moments = Moments()
        self.binned = BinnedCounts(edges) if edges is not None else None
        self.quantiles = DDSketch() if edges is None else None
        self.valid_range = valid_range

    @property
    def count(self) -> int:
        """Finite numeric values seen."""
        return self.moments.count

    def update(self, column: SplitColumn) -> None:
        """Add one batch of a column."""
        numbers = column.numbers
        q = self.quality
        q.present += column.present
        q.missing += column.missing
        q.non_finite += column.non_finite
        q.type_mismatch += len(column.strings)
        if self.valid_range is not None and numbers.size:
            low, high = self.valid_range
            q.out_of_range += int(np.count_nonzero((numbers < low) | (numbers > high)))
        self.moments.update(numbers)
        if self.binned is not None:
            self.binned.update(numbers)
        elif self.quantiles is not None:
            self.quantiles.update(numbers)

    def copy(self) -> NumericColumnSketch:
        """An independent copy (a fresh sketch on the same edges merged with this one)."""
        twin = NumericColumnSketch(
            None if self.binned is None else self.binned.edges, self.valid_range
        )
        twin.merge(self)
        return twin

    def merge(self, other: NumericColumnSketch) -> None:
        """Add another window's sketch of the same column."""
        self.quality.merge(other.quality)
        self.moments.merge(other.moments)
        if self.binned is not None and other.binned is not None:
            self.binned.merge(other.binned)
        elif self.quantiles is not None and other.quantiles is not None:
            self.quantiles.merge(other.quantiles)
        else:
            raise ValueError("cannot merge a reference-binned sketch with a DDSketch")

    @property
    def nbytes(self) -> int:
        """Bytes held per window (arrays plus ~80 bytes of scalars)."""
        dist = self.binned.nbytes if self.binned is not None else 0
        dist += self.quantiles.nbytes if self.quantiles is not None else 0
        return dist + 80

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {
            "kind": self.kind,
            "quality": self.quality.to_dict(),
            "moments": self.moments.to_dict(),
            "binned": None if self.binned is None else self.binned.to_dict(),
            "quantiles": None if self.quantiles is None else self.quantiles.to_dict(),
        }

    @classmethod
    def from_dict(
        cls,
        data: dict[str, Any],
        edges: FloatArray | None = None,
        valid_range: tuple[float, float] | None = None,
    ) -> NumericColumnSketch:
        """Restore from `to_dict()` output on the reference's edges (if any)."""
        sketch = cls(edges, valid_range)
        sketch.quality = Quality.from_dict(data["quality"])
        sketch.moments = Moments.from_dict(data["moments"])
        if edges is not None:
            if data.get("binned") is None:
                raise ValueError("numeric sketch has no binned counts but a reference has edges")
            sketch.binned = BinnedCounts.from_dict(data["binned"], edges)
        elif data.get("quantiles") is not None:
            sketch.quantiles = DDSketch.from_dict(data["quantiles"])
        return sketch


class CategoricalColumnSketch:
    """Quality counts plus counts of reference categories, unseen values and top new values."""

    kind = "categorical"
    __slots__ = ("counts", "quality", "reference_categories")

    def __init__(self, categories: tuple[str, ...] | None = None) -> None:
        self.reference_categories = categories
        self.quality = Quality()
        if categories is None:
            self.counts = CategoricalCounts((), DEFAULT_UNREFERENCED_CAPACITY)
        else:
            self.counts = CategoricalCounts(categories)

    @property
    def count(self) -> int:
        """Category values seen (strings plus numbers read as categories)."""
        return self.counts.total

    def update(self, column: SplitColumn) -> None:
        """Add one batch of a column; numbers count as type mismatches and as categories."""
        q = self.quality
        q.present += column.present
        q.missing += column.missing
        q.non_finite += column.non_finite
        q.type_mismatch += int(column.numbers.size) + column.non_finite
        values = column.strings
        if column.numbers.size:
            values = values + [category_key(float(v)) for v in column.numbers]
        self.counts.update(values)

    def copy(self) -> CategoricalColumnSketch:
        """An independent copy."""
        twin = CategoricalColumnSketch(self.reference_categories)
        twin.merge(self)
        return twin

    def merge(self, other: CategoricalColumnSketch) -> None:
        """Add another window's sketch of the same column."""
        self.quality.merge(other.quality)
        self.counts.merge(other.counts)

    @property
    def nbytes(self) -> int:
        """Approximate bytes held."""
        return self.counts.nbytes + 40

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {"kind": self.kind, "quality": self.quality.to_dict(), **self.counts.to_dict()}

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], categories: tuple[str, ...] | None = None
    ) -> CategoricalColumnSketch:
        """Restore from `to_dict()` output over the reference's categories (if any)."""
        sketch = cls(categories)
        sketch.quality = Quality.from_dict(data["quality"])
        sketch.counts = CategoricalCounts.from_dict(data, categories or ())
        return sketch


ColumnSketch = NumericColumnSketch | CategoricalColumnSketch
"""A window sketch of one column."""
