"""Statistics against scipy oracles on seeded data, reference profile vs window sketch."""

from __future__ import annotations

import numpy as np
import pytest
from datasets import DISTRIBUTIONS, SHIFTS, categories, sample
from scipy import stats
from scipy.spatial.distance import jensenshannon

from sidecar import statistics as st
from sidecar.drift_batch import column_statistics
from sidecar.reference.builder import ProfileBuilder
from sidecar.reference.profile import ColumnProfile
from sidecar.sketches import CategoricalColumnSketch, NumericColumnSketch, split_column

SIZES = (1_000, 20_000, 100_000)


def _profile(values: object, **options: object) -> ColumnProfile:
    """Profile a single column named x."""
    builder = ProfileBuilder(**options)  # type: ignore[arg-type]
    builder.add({"x": values})  # type: ignore[dict-item]
    return builder.build().features["x"]


def _window(profile: ColumnProfile, values: np.ndarray) -> NumericColumnSketch:
    """A window sketch of values on the profile's bins."""
    sketch = NumericColumnSketch(profile.edges_array, profile.valid_range())
    sketch.update(split_column(values))
    return sketch


def _cases() -> list[tuple[str, float, int]]:
    """Every distribution, with and without shift, at each size (large sizes for a subset)."""
    cases = [(name, shift, n) for name in DISTRIBUTIONS for shift in SHIFTS for n in SIZES[:2]]
    return cases + [(name, 0.5, SIZES[2]) for name in ("normal", "integer", "heavy_tailed")]


class TestBinnedAgainstRawData:
    """KS and Wasserstein from bins agree with scipy on the raw samples."""

    @pytest.mark.parametrize(("name", "shift", "n"), _cases())
    def test_ks_and_wasserstein_match_scipy(self, name: str, shift: float, n: int) -> None:
        """KS D is within 0.01 and normalised W1 within 2% or 0.005 of scipy on raw data."""
        reference = sample(name, n, 0.0, seed=1)
        window = sample(name, n, shift, seed=2)
        profile = _profile(reference)
        values = column_statistics(profile, _window(profile, window))
        expected_d = stats.ks_2samp(reference, window).statistic
        assert values["ks"] == pytest.approx(expected_d, abs=0.01)
        expected_w = stats.wasserstein_distance(reference, window) / reference.std()
        assert values["wasserstein"] == pytest.approx(expected_w, rel=0.02, abs=0.005)


class TestExactOnBins:
    """PSI, JS and Hellinger equal numpy/scipy values computed on the same bins."""

    @pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
    def test_psi_js_hellinger_exact(self, name: str) -> None:
        """Statistics from sketches equal the oracle on np.histogram counts within 1e-9."""
        reference = sample(name, 20_000, 0.0, seed=3)
        window = sample(name, 5_000, 0.5, seed=4)
        profile = _profile(reference)
        values = column_statistics(profile, _window(profile, window))
        edges = profile.edges_array
        slots = np.concatenate(([-np.inf], edges, [np.inf]))
        ref_counts = np.histogram(reference, slots)[0]
        win_counts = np.histogram(window, slots)[0]
        p, q = ref_counts / ref_counts.sum(), win_counts / win_counts.sum()
        assert values["js"] == pytest.approx(jensenshannon(p, q, base=2), abs=1e-9)
        hellinger = np.sqrt(np.sum((np.sqrt(p) - np.sqrt(q)) ** 2) / 2)
        assert values["hellinger"] == pytest.approx(hellinger, abs=1e-9)
        deciles = st.decile_boundaries(ref_counts)
        p10 = np.maximum(st.group_counts(ref_counts, deciles) / ref_counts.sum(), 1e-4)
        q10 = np.maximum(st.group_counts(win_counts, deciles) / win_counts.sum(), 1e-4)
        assert values["psi"] == pytest.approx(np.sum((q10 - p10) * np.log(q10 / p10)), abs=1e-9)

    def test_deciles_hold_a_tenth_of_continuous_reference(self) -> None:
        """The decile groups of a continuous reference each hold 10% of it."""
        profile = _profile(sample("normal", 10_000, seed=5))
        ref = np.asarray(profile.counts)
        shares = st.group_counts(ref, st.decile_boundaries(ref)) / ref.sum()
        np.testing.assert_allclose(shares, 0.1, atol=1e-9)

    def test_identical_distributions_have_zero_distance(self) -> None:
        """A window equal to the reference gives 0 for every distance."""
        data = sample("lognormal", 5_000, seed=6)
        profile = _profile(data)
        values = column_statistics(profile, _window(profile, data))
        for key in ("psi", "ks", "js", "wasserstein", "hellinger"):
            assert values[key] == pytest.approx(0.0, abs=1e-9)


class TestPValues:
    """The p-value helpers match scipy."""

    @pytest.mark.parametrize("x", [0.05, 0.3, 0.6, 0.9, 1.0, 1.2, 1.8, 3.0])
    def test_kolmogorov_sf_matches_kstwobign(self, x: float) -> None:
        """kolmogorov_sf equals scipy.stats.kstwobign.sf."""
        assert st.kolmogorov_sf(x) == pytest.approx(stats.kstwobign.sf(x), abs=1e-10)

    @pytest.mark.parametrize(
        ("x", "dof"), [(0.1, 1), (3.0, 1), (5.0, 4), (30.0, 10), (90.0, 99), (400.0, 300)]
    )
    def test_chi2_sf_matches_scipy(self, x: float, dof: int) -> None:
        """chi2_sf equals scipy.stats.chi2.sf."""
        assert st.chi2_sf(x, dof) == pytest.approx(stats.chi2.sf(x, dof), rel=1e-9, abs=1e-15)

    def test_ks_pvalue_matches_asymptotic_formula(self) -> None:
        """ks_pvalue is kstwobign.sf(D * sqrt(n m / (n + m)))."""
        expected = stats.kstwobign.sf(0.05 * np.sqrt(1000 * 3000 / 4000))
        assert st.ks_pvalue(0.05, 1000, 3000) == pytest.approx(expected, abs=1e-12)

    def test_bad_gamma_arguments_raise(self) -> None:
        """A non-positive shape raises ValueError naming it."""
        with pytest.raises(ValueError, match="a=0"):
            st.regularized_gamma_q(0, 1.0)


class TestCategorical:
    """Categorical statistics against scipy on the same slots."""

    def test_categorical_statistics_match_scipy(self) -> None:
        """PSI, JS and the chi-square p-value equal the oracle, unseen values in 'other'."""
        reference = categories(20_000, seed=7)
        window = categories(3_000, 0.5, seed=8, levels=10)  # c8, c9 are unseen
        builder = ProfileBuilder(top_k=6)
        builder.add({"x": reference})
        profile = builder.build().features["x"]
        sketch = CategoricalColumnSketch(profile.category_names)
        sketch.update(split_column(window))
        values = column_statistics(profile, sketch)
        names = list(profile.category_names)
        ref = np.array([reference.count(c) for c in names] + [profile.other], dtype=float)
        win = np.array([window.count(c) for c in names], dtype=float)
        win = np.append(win, len(window) - win.sum())
        assert values["js"] == pytest.approx(jensenshannon(ref, win, base=2), abs=1e-9)
        expected = len(window) * (ref + 0.5) / (ref.sum() + 0.5 * ref.size)
        pvalue = stats.chisquare(win, expected).pvalue
        assert values["chi2_pvalue"] == pytest.approx(pvalue, rel=1e-9, abs=1e-300)

    def test_never_seen_category_is_finite(self) -> None:
        """A category absent from a reference with no 'other' gives finite statistics."""
        builder = ProfileBuilder()
        builder.add({"x": ["a", "b"] * 100})
        profile = builder.build().features["x"]
        sketch = CategoricalColumnSketch(profile.category_names)
        sketch.update(split_column(["a"] * 50 + ["zzz"] * 50))
        values = column_statistics(profile, sketch)
        assert all(v is not None and np.isfinite(v) for v in values.values())
        assert values["chi2_pvalue"] is not None and values["chi2_pvalue"] < 1e-6
