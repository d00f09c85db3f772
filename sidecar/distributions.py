"""Reference vs window distributions of one column, in a few wide bins for display.

Numeric columns: the reference's fine quantile bins (at most 112) are regrouped into
`DEFAULT_BINS` (20) equal-width display bins over the reference's central range, from its
`DEFAULT_TAIL` (0.5%) to its 99.5% quantile, assuming values spread uniformly inside a fine bin
(the cumulative count is interpolated linearly at the display edges); what lies outside, the
underflow and overflow slots included, is shown as the `below` and `above` tails. The central
range keeps one far outlier in the reference from squeezing the picture into one bar.
Categorical columns: the reference's top `DEFAULT_MAX_CATEGORIES` (12) categories by count,
everything else (other reference categories, values the reference never saw) in one "other".
Each side's fractions are of that side's total, tails and "other" included, so each side sums
to 1 (all zeros when it is empty). Cost: one `np.interp` over B + 1 edges per numeric column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sidecar.reference.profile import ColumnProfile
from sidecar.sketches.column import CategoricalColumnSketch, ColumnSketch, NumericColumnSketch
from sidecar.sketches.values import FloatArray

DEFAULT_BINS = 20
DEFAULT_MAX_CATEGORIES = 12
DEFAULT_TAIL = 0.005
OTHER = "other"


@dataclass(frozen=True)
class Distribution:
    """One column's reference and window fractions over the same display bins."""

    kind: str
    edges: tuple[float, ...]
    """Numeric: display bin edges (bins + 1 values); empty for a categorical column."""
    labels: tuple[str, ...]
    """Categorical: the category of each bin; empty for a numeric column."""
    reference: tuple[float, ...]
    window: tuple[float, ...]
    below: tuple[float, float] = (0.0, 0.0)
    """(reference, window) fraction under e_0 (numeric only)."""
    above: tuple[float, float] = (0.0, 0.0)
    """(reference, window) fraction over e_B (numeric only)."""
    window_count: int = 0

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "kind": self.kind,
            "edges": list(self.edges),
            "labels": list(self.labels),
            "reference": list(self.reference),
            "window": list(self.window),
            "below": list(self.below),
            "above": list(self.above),
            "window_count": self.window_count,
        }


def _fractions(counts: FloatArray) -> FloatArray:
    total = float(counts.sum())
    return counts / total if total > 0 else np.zeros_like(counts)


def cumulative(edges: FloatArray, counts: FloatArray, at: FloatArray) -> FloatArray:
    """Values below each of `at`, from slot counts on `edges` (linear inside a fine bin)."""
    inside = np.concatenate(([0.0], np.cumsum(counts[1:-1], dtype=np.float64)))
    found: FloatArray = counts[0] + np.interp(at, edges, inside)
    return found


def binned_quantiles(
    edges: FloatArray, counts: FloatArray, qs: tuple[float, ...]
) -> tuple[float, ...] | None:
    """Quantiles of slot counts on `edges` (tails clamp to e_0 / e_B); None without values."""
    total = float(counts.sum())
    if total <= 0:
        return None
    # Cumulative count at each edge, underflow included; a quantile in the underflow reads e_0.
    at_edges = cumulative(edges, counts, edges)
    ranks = np.asarray(qs, dtype=np.float64) * total
    return tuple(float(v) for v in np.interp(ranks, at_edges, edges))


def _numeric(profile: ColumnProfile, sketch: NumericColumnSketch, bins: int) -> Distribution:
    edges = profile.edges_array
    ref = np.asarray(profile.counts, dtype=np.float64)
    win = (
        sketch.binned.counts.astype(np.float64)
        if sketch.binned is not None and sketch.binned.slots == ref.size
        else np.zeros_like(ref)
    )
    low, high = binned_quantiles(edges, ref, (DEFAULT_TAIL, 1 - DEFAULT_TAIL)) or (0.0, 0.0)
    if not high > low:
        low, high = float(edges[0]), float(edges[-1])
    display = np.linspace(low, high, bins + 1)
    sides = []
    for counts in (ref, win):
        total = float(counts.sum())
        if total <= 0:
            sides.append((np.zeros(bins), 0.0, 0.0))
            continue
        at = cumulative(edges, counts, display)
        sides.append((np.diff(at) / total, at[0] / total, 1.0 - at[-1] / total))
    (ref_bins, ref_below, ref_above), (win_bins, win_below, win_above) = sides
    return Distribution(
        kind="numeric",
        edges=tuple(float(e) for e in display),
        labels=(),
        reference=tuple(float(v) for v in ref_bins),
        window=tuple(float(v) for v in win_bins),
        below=(float(ref_below), float(win_below)),
        above=(float(ref_above), float(win_above)),
        window_count=int(win.sum()),
    )


def _categorical(
    profile: ColumnProfile, sketch: CategoricalColumnSketch, limit: int
) -> Distribution:
    counts = sketch.counts
    window_by_name = dict(zip(counts.categories, counts.counts.tolist(), strict=True))
    ranked = sorted(profile.categories, key=lambda item: -item[1])
    shown = [name for name, _ in ranked[:limit]]
    ref = [float(n) for _, n in ranked[:limit]]
    win = [float(window_by_name.get(name, 0)) for name in shown]
    ref_other = float(profile.other + sum(n for _, n in ranked[limit:]))
    win_other = float(counts.total) - sum(win)
    if ref_other > 0 or win_other > 0:
        shown.append(OTHER)
        ref.append(ref_other)
        win.append(win_other)
    return Distribution(
        kind="categorical",
        edges=(),
        labels=tuple(shown),
        reference=tuple(float(v) for v in _fractions(np.asarray(ref))),
        window=tuple(float(v) for v in _fractions(np.asarray(win))),
        window_count=int(counts.total),
    )


def column_distribution(
    profile: ColumnProfile | None,
    sketch: ColumnSketch | None,
    bins: int = DEFAULT_BINS,
    max_categories: int = DEFAULT_MAX_CATEGORIES,
) -> Distribution | None:
    """Reference vs window over display bins; None without a reference or a matching sketch."""
    if bins < 1 or max_categories < 1:
        raise ValueError(f"bins={bins!r} and max_categories={max_categories!r} must be >= 1")
    if profile is None:
        return None
    if profile.kind == "numeric" and len(profile.edges) >= 2:
        if sketch is None or isinstance(sketch, NumericColumnSketch):
            return _numeric(profile, sketch or NumericColumnSketch(), bins)
        return None
    if profile.kind == "categorical":
        if sketch is None:
            sketch = CategoricalColumnSketch(profile.category_names)
        if isinstance(sketch, CategoricalColumnSketch):
            return _categorical(profile, sketch, max_categories)
    return None
