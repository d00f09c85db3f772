"""Per-column figures the metrics exporter needs: decile-bin counts and window quantiles.

`decile_bin_counts` gives a window's rows in the ~10 reference-decile groups of a numeric column's
fine bins plus `under` (below the reference min) and `over` (above its max): these counts add
across replicas, so summing them fleet-wide gives the fleet's histogram on the same bins.
`reference_decile_fractions` gives the reference's share of each of those bins.
`window_quantiles` interpolates p05/p50/p95 linearly within the fine bins (tails bounded by the
window's own min and max), or reads them from the DDSketch of a column without a reference
(relative error <= 1%).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sidecar import statistics as st
from sidecar.reference.profile import ColumnProfile
from sidecar.sketches.column import NumericColumnSketch

DEFAULT_QUANTILES = (0.05, 0.5, 0.95)


def decile_bin_counts(profile: ColumnProfile, sketch: NumericColumnSketch) -> dict[str, int]:
    """Window rows per reference-decile bin ("0".."9"), plus "under" and "over"."""
    if sketch.binned is None or profile.kind != "numeric":
        raise ValueError("decile bin counts need a numeric column with reference bins")
    return _deciles(np.asarray(profile.counts, dtype=np.float64), sketch.binned.counts)


def reference_decile_fractions(profile: ColumnProfile) -> dict[str, float]:
    """Reference share of each decile bin ("0".."9", "under", "over")."""
    if profile.kind != "numeric":
        raise ValueError(f"reference decile fractions need a numeric column, got {profile.kind!r}")
    ref = np.asarray(profile.counts, dtype=np.float64)
    total = float(ref.sum()) or 1.0
    return {k: v / total for k, v in _deciles(ref, ref).items()}


def _deciles(reference: np.ndarray, counts: np.ndarray) -> dict[str, int]:
    """Group slots by the reference's decile boundaries, with the tails kept apart."""
    inner = np.asarray(counts, dtype=np.float64).copy()
    under, over = int(inner[0]), int(inner[-1])
    inner[0] = inner[-1] = 0.0
    grouped = st.group_counts(inner, st.decile_boundaries(reference))
    out = {str(i): int(v + 0.5) for i, v in enumerate(grouped)}
    out.update(under=under, over=over)
    return out


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
