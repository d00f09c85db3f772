"""Drift statistics of many columns at once: window counts on the reference's slots, batched.

`batch_statistics` groups the comparable columns by kind and slot count and computes each
group's discrepancies as one 2-d numpy batch (`sidecar.nulls.discrepancies`); the statistics the
API shows follow from them (KS and chi-square p-values, non-finite values as None). A window
sketch is comparable only when it was built on its reference column's bins or categories.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from sidecar import nulls
from sidecar import statistics as st
from sidecar.drift_rules import CATEGORICAL_STATISTICS, NUMERIC_STATISTICS
from sidecar.nulls import BASES, Basis
from sidecar.reference.profile import ColumnProfile
from sidecar.sketches.column import CategoricalColumnSketch, ColumnSketch, NumericColumnSketch
from sidecar.statistics import FloatArray


def compatible(profile: ColumnProfile, sketch: ColumnSketch) -> bool:
    """Whether a window sketch was built on this reference column's bins or categories."""
    if isinstance(sketch, NumericColumnSketch):
        binned = sketch.binned
        return (
            profile.kind == "numeric" and binned is not None and binned.slots == len(profile.counts)
        )
    return (
        isinstance(sketch, CategoricalColumnSketch)
        and profile.kind == "categorical"
        and sketch.counts.categories == profile.category_names
    )


def discrepancy_slots(profile: ColumnProfile, sketch: ColumnSketch) -> FloatArray:
    """A window's counts on the reference's slots (categorical: "other" when either has one)."""
    if isinstance(sketch, NumericColumnSketch):
        assert sketch.binned is not None
        return sketch.binned.counts.astype(np.float64)
    assert isinstance(sketch, CategoricalColumnSketch)
    counts = sketch.counts.counts.astype(np.float64)
    if profile.other or sketch.counts.unseen:
        return np.append(counts, float(sketch.counts.unseen))
    return counts


def batch_statistics(
    comparable: Mapping[str, tuple[ColumnProfile, ColumnSketch]],
) -> tuple[dict[str, dict[str, float | None]], dict[str, dict[str, float]], dict[str, Basis]]:
    """Displayed statistics, increasing discrepancies and bases, batched by kind and slots."""
    batches: dict[tuple[str, int], list[str]] = {}
    bases: dict[str, Basis] = {}
    windows: dict[str, tuple[FloatArray, FloatArray | None]] = {}
    for name, (profile, sketch) in comparable.items():
        counts = discrepancy_slots(profile, sketch)
        other = profile.kind == "categorical" and counts.size > len(profile.categories)
        bases[name] = BASES.get(profile, other)
        sums = (
            sketch.binned.sums
            if isinstance(sketch, NumericColumnSketch) and sketch.binned is not None
            else None
        )
        windows[name] = (counts, sums)
        batches.setdefault((profile.kind, counts.size), []).append(name)
    values: dict[str, dict[str, float | None]] = {}
    found: dict[str, dict[str, float]] = {}
    for (kind, _), names in batches.items():
        methods = NUMERIC_STATISTICS if kind == "numeric" else CATEGORICAL_STATISTICS
        basis = nulls.stacked([bases[n] for n in names])
        counts = np.stack([windows[n][0] for n in names])
        sums = np.stack([windows[n][1] for n in names]) if kind == "numeric" else None  # type: ignore[misc]
        batch = nulls.discrepancies(basis, counts, sums, methods)
        for i, name in enumerate(names):
            found[name] = {m: float(v[i]) for m, v in batch.items()}
            values[name] = _displayed(found[name], comparable[name], counts[i])
    return values, found, bases


def _displayed(
    discrepancy: Mapping[str, float], pair: tuple[ColumnProfile, ColumnSketch], counts: FloatArray
) -> dict[str, float | None]:
    """The API's statistics from the discrepancies (p-values computed from D and chi-square)."""
    profile, sketch = pair
    shown = {m: v for m, v in discrepancy.items() if m != "chi2"}
    n = int(counts.sum())
    if profile.kind == "numeric":
        shown["ks_pvalue"] = st.ks_pvalue(discrepancy["ks"], profile.count, sketch.count)
    elif counts.size >= 2 and n > 0:
        shown["chi2_pvalue"] = st.chi2_sf(n * discrepancy["chi2"], counts.size - 1)
    else:
        shown["chi2_pvalue"] = 1.0
    return _finite(**shown)


def column_statistics(profile: ColumnProfile, sketch: ColumnSketch) -> dict[str, float | None]:
    """All statistics of one column's window against its reference (empty if incompatible)."""
    if sketch.count == 0 or not compatible(profile, sketch):
        return {}
    return batch_statistics({"x": (profile, sketch)})[0]["x"]


def _finite(**values: float) -> dict[str, float | None]:
    """Statistics with non-finite values as None (JSON has no inf or NaN)."""
    return {k: (float(v) if math.isfinite(v) else None) for k, v in values.items()}
