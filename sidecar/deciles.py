"""Reference-decile bins of a numeric column, and window quantiles.

`slot_labels` maps each fine slot of a numeric reference profile to one of the 12 `BIN_LABELS`:
the ~10 reference-decile groups "0".."9" (`statistics.decile_boundaries`, the groups drift's PSI
uses) plus "under" (below the reference min) and "over" (above its max). Row counts on these bins
add across replicas, so summing them fleet-wide gives the fleet's histogram on the same bins;
`reference_fractions` gives the reference's share of each. `window_quantiles` interpolates
p05/p50/p95 linearly within the fine bins (tails bounded by the window's own min and max), or
reads them from the DDSketch of a column without a reference
(relative error <= 1%).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from sidecar import statistics as st
from sidecar.reference.profile import ColumnProfile
from sidecar.sketches.column import NumericColumnSketch

DEFAULT_QUANTILES = (0.05, 0.5, 0.95)
BIN_LABELS: tuple[str, ...] = (*(str(i) for i in range(10)), "under", "over")
_UNDER, _OVER, _TOP = 10, 11, 9


def slot_labels(profile: ColumnProfile) -> npt.NDArray[np.intp]:
    """For each fine slot of a numeric profile, the index in `BIN_LABELS` of its bin."""
    if profile.kind != "numeric" or len(profile.counts) < 3:
        raise ValueError(f"decile bins need a numeric profile with bins, got {profile.kind!r}")
    reference = np.asarray(profile.counts, dtype=np.float64)
    ends = st.decile_boundaries(reference)
    slots = np.arange(reference.size)
    group = np.searchsorted(ends, slots, side="left")
    # The highest group is "9" whatever the number of groups, so "over" always folds into it.
    labels = np.where(group == ends.size - 1, _TOP, group).astype(np.intp)
    labels[0], labels[-1] = _UNDER, _OVER
    return labels


def reference_fractions(profile: ColumnProfile) -> dict[str, float]:
    """The reference's share of each of the 12 bins (0 for empty ones)."""
    counts = np.asarray(profile.counts, dtype=np.float64)
    total = float(counts.sum()) or 1.0
    per_bin = np.bincount(slot_labels(profile), weights=counts, minlength=len(BIN_LABELS))
    return {label: float(v) / total for label, v in zip(BIN_LABELS, per_bin, strict=True)}


def window_quantiles(
    sketch: NumericColumnSketch, quantiles: Sequence[float] = DEFAULT_QUANTILES
) -> dict[float, float | None]:
    """Window quantiles of a numeric column (None when the window is empty)."""
    if sketch.count == 0:
        return dict.fromkeys(quantiles)
    if sketch.binned is None:
        if sketch.quantiles is None:
            return dict.fromkeys(quantiles)
        return {q: sketch.quantiles.quantile(q) for q in quantiles}
    low, high = sketch.moments.minimum, sketch.moments.maximum
    edges = sketch.binned.edges
    lower = np.clip(np.concatenate(([low], edges)), low, high)
    upper = np.clip(np.concatenate((edges, [high])), low, high)
    counts = sketch.binned.counts.astype(np.float64)
    cumulative = np.cumsum(counts)
    result: dict[float, float | None] = {}
    for q in quantiles:
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile {q!r} is not in [0, 1]")
        rank = q * cumulative[-1]
        slot = min(int(np.searchsorted(cumulative, rank, side="left")), counts.size - 1)
        before = cumulative[slot] - counts[slot]
        share = (rank - before) / counts[slot] if counts[slot] else 0.0
        result[q] = float(lower[slot] + share * (upper[slot] - lower[slot]))
    return result
