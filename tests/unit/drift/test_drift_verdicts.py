"""Drift decisions that know their sample size, their reasons, and the dataset's one threshold."""

from __future__ import annotations

import numpy as np
import pytest
from datasets import sample
from scipy import stats

from sidecar import nulls
from sidecar.drift import column_drift, drift_report, required_drifted
from sidecar.drift_rules import DriftPolicy, DriftRule
from sidecar.reference.builder import ProfileBuilder
from sidecar.reference.profile import ColumnProfile, ReferenceProfile
from sidecar.sketches import NumericColumnSketch, split_column
from sidecar.windows import WindowStore

T0 = 1_700_000_100.0


def _reference() -> ReferenceProfile:
    builder = ProfileBuilder()
    builder.add({"x": sample("normal", 20_000, seed=1), "y": sample("normal", 20_000, seed=2)})
    return builder.build()


def _window(profile: ColumnProfile, values: np.ndarray) -> NumericColumnSketch:
    sketch = NumericColumnSketch(profile.edges_array, profile.valid_range())
    sketch.update(split_column(values))
    return sketch


class TestSampleSize:
    """The effect-size threshold and the null quantile at n must both be passed."""

    def test_small_undrifted_window_past_the_threshold_does_not_drift(self) -> None:
        """At 100 rows W exceeds 0.1 by chance, but not its null quantile: no drift."""
        profile = _reference().features["x"]
        policy = DriftPolicy()
        found = []
        for seed in range(40):
            values = sample("normal", 100, seed=100 + seed)
            found.append(column_drift("x", profile, _window(profile, values), policy))
        assert any((c.value or 0) > 0.1 for c in found)
        assert not any(c.drift for c in found)
        assert all(c.null_quantile is not None and c.null_quantile > 0.1 for c in found)
        assert all(c.critical == c.null_quantile for c in found)

    def test_a_real_shift_drifts_and_reports_what_it_passed(self) -> None:
        """A 1 sd shift at 500 rows drifts; critical is max(threshold, null quantile)."""
        profile = _reference().features["x"]
        column = column_drift(
            "x", profile, _window(profile, sample("normal", 500, 1.0, 3)), DriftPolicy()
        )
        assert column.drift is True and column.reason == ""
        assert column.null_quantile is not None
        assert column.critical == max(0.1, column.null_quantile)

    def test_null_quantile_shrinks_like_one_over_sqrt_n(self) -> None:
        """Beyond the grid the null quantile scales as 1 / sqrt(n_eff)."""
        basis = nulls.BASES.get(_reference().features["x"])
        table = nulls.null_tables({"x": basis}, "wasserstein")["x"]
        big, bigger = table.quantile(5_000), table.quantile(20_000)
        n_eff = [n * 20_000 / (n + 20_000) for n in (5_000, 20_000)]
        assert bigger / big == pytest.approx(np.sqrt(n_eff[0] / n_eff[1]), rel=1e-9)
        assert table.quantile(50) > table.quantile(200) > table.quantile(1_000)

    def test_pvalue_rule_uses_the_smaller_of_threshold_and_null(self) -> None:
        """For ks_pvalue the critical p is min(threshold, the p-value at the null quantile)."""
        profile = _reference().features["x"]
        policy = DriftPolicy(numeric=DriftRule("ks_pvalue", 0.05))
        column = column_drift("x", profile, _window(profile, sample("normal", 300, 0.0, 4)), policy)
        assert column.drift is False
        assert column.critical is not None and column.critical <= 0.002

    def test_lognormal_quantile_matches_a_lognormal_sample(self) -> None:
        """On log-normal values the fitted 0.999 quantile is within 5% of scipy's."""
        values = np.random.default_rng(1).lognormal(0.0, 0.5, 20_000)
        expected = stats.lognorm(0.5).ppf(0.999)
        assert nulls.lognormal_quantile(values, 0.001) == pytest.approx(expected, rel=0.05)


class TestReasons:
    """A null verdict always says why."""

    def test_reasons(self) -> None:
        """Too few rows, a column the reference lacks, and no reference each name themselves."""
        reference = _reference()
        store = WindowStore(reference)
        rows = sample("normal", 40, seed=5).tolist()
        store.observe({"x": rows, "y": rows, "z": rows}, {}, 40, now=T0)
        report = drift_report(reference, store.snapshot("current", T0))
        assert report.features["x"].reason == "40 rows, need 100"
        assert report.features["z"].reason == "feature not in the reference"
        assert report.drift is None and report.tested() == 0
        bare = drift_report(None, store.snapshot("current", T0))
        assert bare.features["x"].reason == "no reference profile"


class TestDataset:
    """Dataset drift: the share threshold and a binomial count test."""

    @pytest.mark.parametrize(("total", "expected"), [(1, 1), (2, 2), (4, 2), (20, 10), (200, 100)])
    def test_required_is_the_share_when_that_is_unlikely(self, total: int, expected: int) -> None:
        """With alpha 0.001 the share 0.5 decides, except that 1 of 2 is too likely by chance."""
        assert required_drifted(total, DriftPolicy()) == expected

    def test_required_follows_the_binomial_when_the_share_is_low(self) -> None:
        """At share 0.001 of 1,000 features the count must beat Binomial(1000, 0.001) too."""
        policy = DriftPolicy(dataset_share=0.001)
        k = required_drifted(1_000, policy)
        assert stats.binom.sf(k - 1, 1_000, 0.001) <= 0.001 < stats.binom.sf(k - 2, 1_000, 0.001)
