"""Mergeable, bounded, serialisable sketches of one column in one window.

Each sketch has `update(...)` (vectorised per batch), `merge(other)` (counts add) and
`to_dict()` / `from_dict()`; bounds are stated in each module.
"""

from __future__ import annotations

from sidecar.sketches.binned import BinnedCounts
from sidecar.sketches.categorical import CategoricalCounts, TopK
from sidecar.sketches.column import (
    CategoricalColumnSketch,
    ColumnSketch,
    NumericColumnSketch,
    Quality,
)
from sidecar.sketches.moments import Moments
from sidecar.sketches.quantile import DDSketch
from sidecar.sketches.values import SplitColumn, category_key, split_column

__all__ = [
    "BinnedCounts",
    "CategoricalColumnSketch",
    "CategoricalCounts",
    "ColumnSketch",
    "DDSketch",
    "Moments",
    "NumericColumnSketch",
    "Quality",
    "SplitColumn",
    "TopK",
    "category_key",
    "split_column",
]
