"""Columns of few categories: the null quantile is empirical, so share changes are detectable."""

from __future__ import annotations

import numpy as np

from sidecar.drift import column_drift
from sidecar.drift_rules import DriftPolicy
from sidecar.nulls import categorical_basis, discrepancies, null_tables
from sidecar.reference.builder import ProfileBuilder
from sidecar.reference.profile import ColumnProfile
from sidecar.sketches.column import CategoricalColumnSketch
from sidecar.sketches.values import split_column

SHARES = (0.59, 0.41)


def _profile(rows: int = 5_000) -> ColumnProfile:
    rng = np.random.default_rng(0)
    builder = ProfileBuilder(max_rows=rows)
    builder.add_live({"c": rng.choice(["1", "0"], rows, p=SHARES).tolist()}, {}, rows)
    return builder.build().features["c"]


def _window(
    profile: ColumnProfile, n: int, shares: tuple[float, float], seed: int
) -> CategoricalColumnSketch:
    sketch = CategoricalColumnSketch(profile.category_names)
    rng = np.random.default_rng(seed)
    sketch.update(split_column(rng.choice(["1", "0"], n, p=shares).tolist()))
    return sketch


class TestBinaryColumns:
    def test_the_null_quantile_matches_a_large_simulation(self) -> None:
        """The table's JS quantile at 100 rows is within 15% of 200,000 simulated windows'."""
        basis = categorical_basis([2950.0, 2050.0], 5_000)
        table = null_tables({"c": basis}, "js", 0.001)["c"]
        rng = np.random.default_rng(7)
        counts = rng.multinomial(100, [0.59, 0.41], size=200_000).astype(np.float64)
        values = discrepancies(basis, counts, None, ["js"])["js"]
        n_eff = 100 * 5_000 / 5_100
        exact = float(np.quantile(values, 0.9995))
        # The table is read at n_eff (the reference is a sample too), so compare there.
        assert abs(table.quantile(100) * (n_eff / 100) ** 0.5 - exact) <= 0.15 * exact

    def test_no_false_alarm_and_a_share_change_is_found(self) -> None:
        """Under no drift 400 windows of 1,000 rows raise nothing; 0.59 -> 0.35 is always found."""
        profile, policy = _profile(), DriftPolicy()
        quiet = [
            column_drift("c", profile, _window(profile, 1_000, SHARES, s), policy)
            for s in range(400)
        ]
        moved = [
            column_drift("c", profile, _window(profile, 1_000, (0.35, 0.65), s), policy)
            for s in range(50)
        ]
        assert sum(bool(d.drift) for d in quiet) == 0
        assert all(d.drift for d in moved)
        assert quiet[0].critical is not None and quiet[0].critical < 0.2
