"""Exported-feature cap and fleet-mergeable decile bins: the merged bins give drift's exact PSI."""

from __future__ import annotations

import numpy as np
import pytest

from sidecar.deciles import BIN_LABELS, reference_fractions, slot_labels
from sidecar.drift import column_drift
from sidecar.drift_rules import DriftPolicy
from sidecar.export.features import FeatureExport
from sidecar.reference.builder import ProfileBuilder
from sidecar.reference.profile import ReferenceProfile
from sidecar.sketches.column import NumericColumnSketch
from sidecar.sketches.values import split_column
from sidecar.statistics import population_stability_index


def _reference(values: np.ndarray) -> ReferenceProfile:
    builder = ProfileBuilder()
    builder.add({"x": values.tolist()})
    return builder.build()


def _folded(counts: dict[str, float]) -> np.ndarray:
    """The 12 bins with "under" added to "0" and "over" to "9", as the recording rule does."""
    out = np.array([counts[label] for label in BIN_LABELS[:10]], dtype=np.float64)
    out[0] += counts["under"]
    out[9] += counts["over"]
    return out


def _psi_from_bins(
    export: FeatureExport, keys: list[object], profile_ref: ReferenceProfile
) -> float:
    merged = dict.fromkeys(BIN_LABELS, 0.0)
    for key in keys:
        model = export.model(key)
        assert model is not None
        for label, count in model.bin_counts()["x"].items():
            merged[label] += count
    fractions = reference_fractions(profile_ref.features["x"])
    return population_stability_index(_folded(fractions), _folded(merged))


class _Key:
    """A stand-in for a model's state object (the export keys its state by identity)."""


class TestFleetBins:
    @pytest.mark.parametrize(
        "make",
        [
            lambda rng: rng.normal(0.0, 1.0, 4_000),
            # Point masses merge tied deciles: fewer than 10 groups.
            lambda rng: rng.choice([0.0, 1.0, 2.0, 5.0], 4_000, p=[0.5, 0.3, 0.15, 0.05]),
        ],
    )
    def test_merged_replica_bins_give_drifts_psi(self, make: object) -> None:
        """Two replicas' bin counts, summed and tail-folded, give the PSI of drift on all rows."""
        rng = np.random.default_rng(3)
        reference = _reference(make(rng))  # type: ignore[operator]
        stream = np.concatenate([make(rng) * 1.3 + 0.4, [-50.0, 99.0, 99.0]])  # type: ignore[operator]
        export = FeatureExport()
        a, b = _Key(), _Key()
        half = stream.size // 2
        export.observe(a, {"x": stream[:half].tolist()}, reference)
        export.observe(b, {"x": stream[half:].tolist()}, reference)
        profile = reference.features["x"]
        sketch = NumericColumnSketch(profile.edges_array)
        sketch.update(split_column(stream.tolist()))
        expected = column_drift("x", profile, sketch, DriftPolicy()).statistics["psi"]
        assert expected is not None
        assert _psi_from_bins(export, [a, b], reference) == pytest.approx(expected, abs=1e-12)

    def test_reference_fractions_cover_twelve_bins_and_sum_to_one(self) -> None:
        """Every label has a fraction; the tails of the data the edges came from are empty."""
        reference = _reference(np.random.default_rng(1).normal(size=2_000))
        fractions = reference_fractions(reference.features["x"])
        assert list(fractions) == list(BIN_LABELS)
        assert sum(fractions.values()) == pytest.approx(1.0)
        assert fractions["under"] == fractions["over"] == 0.0

    def test_top_group_is_always_nine(self) -> None:
        """With merged deciles the highest group is labelled 9 and the tails 10 and 11."""
        reference = _reference(np.repeat([1.0, 2.0, 3.0], [700, 200, 100]))
        labels = slot_labels(reference.features["x"])
        assert labels[0] == 10 and labels[-1] == 11
        assert labels[-2] == 9

    def test_counts_never_drop_when_the_reference_changes(self) -> None:
        """A new reference rebins future rows; the counts so far are kept, so totals only grow."""
        rng = np.random.default_rng(2)
        first, second = _reference(rng.normal(size=1_000)), _reference(rng.normal(size=1_000))
        export, key = FeatureExport(), _Key()
        export.observe(key, {"x": [0.1, 0.2, 0.3]}, first)
        export.observe(key, {"x": [0.4, None, float("nan"), "a"]}, second)
        model = export.model(key)
        assert model is not None
        assert sum(model.bin_counts()["x"].values()) == 4


class TestCardinalityGuard:
    def test_features_over_the_cap_are_refused_and_counted_once(self) -> None:
        """With a cap of 2, the third and fourth names are refused, each counted once."""
        export, key = FeatureExport(max_features=2), _Key()
        export.observe(key, {"a": [1.0], "b": [1.0], "c": [1.0]}, None)
        export.observe(key, {"a": [1.0], "c": [1.0], "d": [1.0]}, None)
        model = export.model(key)
        assert model is not None
        assert list(model.names) == ["a", "b"] and model.dropped == 2

    def test_allow_list_exports_only_listed_names(self) -> None:
        """An allow-list admits its names only; others count as dropped."""
        export, key = FeatureExport(allow=["b"]), _Key()
        export.observe(key, {"a": [1.0], "b": [1.0]}, None)
        model = export.model(key)
        assert model is not None
        assert list(model.names) == ["b"] and model.dropped == 1

    def test_reference_features_come_first(self) -> None:
        """A reference feature that never arrives is still exported (so its absence shows)."""
        reference = _reference(np.arange(100.0))
        export, key = FeatureExport(max_features=1), _Key()
        export.observe(key, {"other": [1.0]}, reference)
        model = export.model(key)
        assert model is not None
        assert list(model.names) == ["x"] and model.dropped == 1

    def test_bad_caps_are_rejected(self) -> None:
        """A cap below one names the value."""
        with pytest.raises(ValueError, match="max_features=0"):
            FeatureExport(max_features=0)
