"""Sketches: exact merges across replicas, bounded memory, serialisation round trips."""

from __future__ import annotations

import json

import numpy as np
import pytest
from datasets import categories, sample

from sidecar.reference.builder import ProfileBuilder
from sidecar.reference.profile import ColumnProfile
from sidecar.sketches import (
    CategoricalColumnSketch,
    DDSketch,
    NumericColumnSketch,
    TopK,
    split_column,
)


def _profile(values: object) -> ColumnProfile:
    """Profile one column named x."""
    builder = ProfileBuilder()
    builder.add({"x": values})  # type: ignore[dict-item]
    return builder.build().features["x"]


def _numeric(profile: ColumnProfile | None, values: np.ndarray) -> NumericColumnSketch:
    """A numeric sketch (binned when a profile is given) of values."""
    sketch = (
        NumericColumnSketch(profile.edges_array, profile.valid_range())
        if profile is not None
        else NumericColumnSketch()
    )
    sketch.update(split_column(values))
    return sketch


def _merged(parts: list[NumericColumnSketch]) -> NumericColumnSketch:
    """Merge sketches left to right."""
    total = parts[0].copy()
    for part in parts[1:]:
        total.merge(part)
    return total


class TestMerge:
    """Merging sketches of parts gives the sketch of the whole."""

    @pytest.mark.parametrize("replicas", [2, 8])
    @pytest.mark.parametrize("referenced", [True, False])
    def test_numeric_split_and_merged_equals_whole(self, replicas: int, referenced: bool) -> None:
        """Counts and buckets are identical, moments equal to float rounding."""
        data = sample("lognormal", 30_000, 0.3, seed=11)
        profile = _profile(sample("lognormal", 10_000, seed=12)) if referenced else None
        whole = _numeric(profile, data)
        merged = _merged([_numeric(profile, part) for part in np.array_split(data, replicas)])
        if referenced:
            assert whole.binned is not None and merged.binned is not None
            np.testing.assert_array_equal(merged.binned.counts, whole.binned.counts)
            np.testing.assert_allclose(merged.binned.sums, whole.binned.sums, rtol=1e-12)
        else:
            assert merged.quantiles is not None and whole.quantiles is not None
            assert merged.quantiles.to_dict() == whole.quantiles.to_dict()
        assert merged.quality == whole.quality
        assert merged.moments.count == whole.moments.count
        assert merged.moments.mean == pytest.approx(whole.moments.mean, rel=1e-12)
        assert merged.moments.variance == pytest.approx(whole.moments.variance, rel=1e-10)
        assert (merged.moments.minimum, merged.moments.maximum) == (
            whole.moments.minimum,
            whole.moments.maximum,
        )

    @pytest.mark.parametrize("replicas", [2, 8])
    def test_categorical_split_and_merged_equals_whole(self, replicas: int) -> None:
        """Reference counts, unseen count and (below capacity) new values merge exactly."""
        values = categories(20_000, 0.5, seed=13, levels=20)
        reference = ("c0", "c1", "c2", "c3")
        whole = CategoricalColumnSketch(reference)
        whole.update(split_column(values))
        merged = CategoricalColumnSketch(reference)
        for part in np.array_split(np.array(values), replicas):
            replica = CategoricalColumnSketch(reference)
            replica.update(split_column(part.tolist()))
            merged.merge(replica)
        assert merged.to_dict() == whole.to_dict()

    def test_ddsketch_collapse_is_order_independent(self) -> None:
        """With a small bucket cap, merged collapsed sketches equal the whole's."""
        data = np.geomspace(1e-6, 1e6, 5_000)
        whole = DDSketch(max_buckets=64)
        whole.update(data)
        merged = DDSketch(max_buckets=64)
        for part in np.array_split(np.random.default_rng(0).permutation(data), 8):
            replica = DDSketch(max_buckets=64)
            replica.update(part)
            merged.merge(replica)
        assert merged.to_dict() == whole.to_dict()
        assert whole.positive.counts.size == 64

    def test_merging_different_edges_is_refused(self) -> None:
        """Sketches on different reference edges cannot be merged."""
        a = _numeric(_profile(sample("normal", 1_000, seed=1)), np.zeros(3))
        b = _numeric(_profile(sample("normal", 1_000, seed=2)), np.zeros(3))
        with pytest.raises(ValueError, match="different edges"):
            a.merge(b)


class TestAccuracyAndMemory:
    """DDSketch accuracy and the memory bounds."""

    def test_ddsketch_relative_accuracy(self) -> None:
        """Quantiles are within 1% relative of numpy's lower quantiles."""
        data = np.concatenate([sample("lognormal", 20_000, seed=3), -sample("lognormal", 500)])
        sketch = DDSketch()
        sketch.update(data)
        for q in (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99):
            exact = float(np.quantile(data, q, method="lower"))
            assert sketch.quantile(q) == pytest.approx(exact, rel=0.0101)

    def test_numeric_sketch_memory_is_under_4_kib(self) -> None:
        """A referenced numeric sketch and a DDSketch both hold <= 4 KiB per window."""
        profile = _profile(sample("heavy_tailed", 50_000, seed=4))
        assert _numeric(profile, sample("heavy_tailed", 10_000, 1.0)).nbytes <= 4096
        wide = np.concatenate([np.geomspace(1e-300, 1e300, 10_000), -np.geomspace(1, 1e300, 99)])
        assert _numeric(None, wide).nbytes <= 4096 + 100

    def test_categorical_memory_bounded_for_a_million_distinct_strings(self) -> None:
        """10^6 distinct strings keep at most the TopK capacity of new values."""
        sketch = CategoricalColumnSketch(("a", "b"))
        for start in range(0, 1_000_000, 100_000):
            sketch.update(split_column([f"value-{i}" for i in range(start, start + 100_000)]))
        assert sketch.counts.unseen == 1_000_000
        assert len(sketch.counts.new.counts) <= sketch.counts.new.capacity
        assert sketch.nbytes < 16_384

    def test_topk_keeps_heavy_hitters(self) -> None:
        """A value with more than N/(k+1) occurrences survives among many singletons."""
        summary = TopK(8)
        summary.add_counts({f"noise{i}": 1 for i in range(5_000)})
        summary.add_counts({"heavy": 2_000})
        assert summary.top(1)[0][0] == "heavy"


class TestSerialisation:
    """Sketches survive to_dict / JSON / from_dict unchanged."""

    def test_numeric_round_trip(self) -> None:
        """Referenced and DDSketch numeric sketches round-trip through JSON."""
        profile = _profile(sample("normal", 2_000))
        for sketch, edges in (
            (_numeric(profile, sample("normal", 500, 1.0)), profile.edges_array),
            (_numeric(None, sample("normal", 500, 1.0)), None),
        ):
            data = json.loads(json.dumps(sketch.to_dict()))
            restored = NumericColumnSketch.from_dict(data, edges)
            assert restored.to_dict() == sketch.to_dict()

    def test_categorical_round_trip(self) -> None:
        """A categorical sketch with unseen values round-trips through JSON."""
        sketch = CategoricalColumnSketch(("c0", "c1"))
        sketch.update(split_column([*categories(300, seed=5), None, 1.0]))
        data = json.loads(json.dumps(sketch.to_dict()))
        assert CategoricalColumnSketch.from_dict(data, ("c0", "c1")).to_dict() == sketch.to_dict()

    def test_restoring_on_wrong_edges_fails(self) -> None:
        """Counts for a different number of bins raise ValueError."""
        sketch = _numeric(_profile(sample("normal", 2_000)), np.zeros(2))
        with pytest.raises(ValueError, match="slots"):
            NumericColumnSketch.from_dict(sketch.to_dict(), np.array([0.0, 1.0]))


class TestQualityCounts:
    """Per-column data-quality counts."""

    def test_numeric_column_counts_missing_nan_mismatch_and_range(self) -> None:
        """None, NaN/inf, strings and values outside the reference range are counted."""
        sketch = NumericColumnSketch(np.array([0.0, 5.0, 10.0]), (0.0, 10.0))
        sketch.update(split_column([1.0, None, float("nan"), float("inf"), "x", -3.0, 11.0, 10.0]))
        quality = sketch.quality.to_dict()
        assert quality == {
            "present": 7,
            "missing": 1,
            "non_finite": 2,
            "type_mismatch": 1,
            "out_of_range": 2,
        }
        assert sketch.count == 4

    def test_categorical_column_counts_numbers_as_mismatches(self) -> None:
        """A number in a categorical column is a mismatch and the category '3'."""
        sketch = CategoricalColumnSketch(("a", "3"))
        sketch.update(split_column(["a", 3.0, None]))
        assert sketch.quality.type_mismatch == 1
        assert sketch.counts.counts.tolist() == [1, 1]
