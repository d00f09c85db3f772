"""A wide reference: columns a window never saw cost nothing per report and read the same.

The drift report's no-data columns come from one shared build per reference and policy
(`sidecar.drift.no_data_columns`), the quality report computes absent features' rates when read
(`sidecar.feature_rates.FeatureRates`), and the drift latch touches only drifted or held columns.
Each is checked here against the column-by-column answer it replaces.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from datasets import sample

from sidecar.derived import Derived
from sidecar.drift import column_drift, drift_report, no_data_columns
from sidecar.drift_rules import DriftPolicy
from sidecar.feature_rates import FeatureQuality, FeatureRates, FeatureSpec, absent, schema_index
from sidecar.quality import ColumnCounts, Schema, WindowTotals, assess_quality
from sidecar.reference.builder import ProfileBuilder
from sidecar.reference.profile import ReferenceProfile
from sidecar.reports import held
from sidecar.signals.hysteresis import Latch
from sidecar.windows import WindowStore

WIDE = 300


def _wide_reference() -> ReferenceProfile:
    """`WIDE` numeric features (copies of one column) and a prediction."""
    builder = ProfileBuilder(prediction="score")
    builder.add({"x0": sample("normal", 2_000, seed=1), "score": sample("uniform", 2_000, seed=2)})
    profile = builder.build()
    features = {f"x{i}": profile.features["x0"] for i in range(WIDE)}
    return ReferenceProfile(features=features, predictions=profile.predictions)


def _window(reference: ReferenceProfile, shift: float = 0.0, rows: int = 500) -> WindowStore:
    store = WindowStore(reference, window_seconds=60)
    live = {"x3": sample("normal", rows, shift, seed=5).tolist(), "extra": [1.0] * rows}
    store.observe(live, {"score": sample("uniform", rows, seed=6).tolist()}, rows, now=10.0)
    return store


class TestDriftOfAWideReference:
    def test_every_column_reads_as_it_would_alone(self) -> None:
        """Each column of the report equals `column_drift` of that column, in reference order."""
        reference = _wide_reference()
        state = _window(reference, shift=1.0).snapshot("current", now=20.0)
        policy = DriftPolicy()
        report = drift_report(reference, state, policy)
        assert list(report.features) == [*reference.features, "extra"]
        for name, profile in reference.features.items():
            alone = column_drift(name, profile, state.features.get(name), policy)
            assert report.features[name] == alone, name
        assert report.features["extra"].reason == "feature not in the reference"
        assert report.features["x3"].drift is True
        assert report.features["x7"].reason == "0 rows, need 100"
        assert (report.drifted, report.total) == (1, 1)

    def test_no_data_columns_are_built_once_per_reference_and_policy(self) -> None:
        """The same profiles and policy give the same object; another policy builds anew."""
        reference = _wide_reference()
        policy = DriftPolicy()
        first = no_data_columns(reference.features, policy)
        assert no_data_columns(reference.features, policy) is first
        assert no_data_columns(reference.features, DriftPolicy(min_samples=50)) is not first
        assert first["x1"].reason == "0 rows, need 100"

    def test_a_drifted_column_stays_held_after_its_data_stops(self) -> None:
        """The latch still holds a column whose window later has no rows of it."""
        reference = _wide_reference()
        policy = DriftPolicy()
        latch = Latch(60.0)
        drifted = drift_report(reference, _window(reference, 1.0).snapshot("current", 20.0))
        assert held(drifted, latch, 20.0, policy).features["x3"].drift is True
        empty = WindowStore(reference, window_seconds=60).snapshot("current", now=30.0)
        later = held(drift_report(reference, empty, policy), latch, 30.0, policy)
        assert later.features["x3"].held and later.features["x3"].drift is True
        assert later.features["x4"].drift is None and later.drift is True
        assert latch.raised() == frozenset({"features:x3", "dataset"})


class TestDerived:
    def test_keeps_at_most_size_values_matched_by_identity(self) -> None:
        """An equal but distinct key builds again; the oldest entry goes first."""
        cache: Derived[int] = Derived(2)
        builds: list[int] = []

        def build(value: int) -> int:
            builds.append(value)
            return value

        a, b, c = [1], [1], [2]
        assert cache.get((a,), lambda: build(1)) == 1
        assert cache.get((a,), lambda: build(9)) == 1
        assert cache.get((b,), lambda: build(2)) == 2
        cache.get((c,), lambda: build(3))
        assert len(cache) == 2
        cache.get((a,), lambda: build(4))
        assert builds == [1, 2, 3, 4]

    def test_size_must_be_positive(self) -> None:
        """A cache of no entries is a configuration error."""
        with pytest.raises(ValueError, match="size=0"):
            Derived(0)


def _specs(n: int, seed: int) -> tuple[FeatureSpec, ...]:
    rng = np.random.default_rng(seed)
    missing = rng.choice([0.0, 0.25, 1.0], n)
    invalid = rng.choice([0.0, 0.1], n)
    names = [f"f{int(i)}" for i in rng.permutation(n)]
    return tuple(
        FeatureSpec(name, "numeric", 0.0, 1.0, float(m), float(v))
        for name, m, v in zip(names, missing, invalid, strict=True)
    )


class TestFeatureRates:
    @pytest.mark.parametrize("seed", range(5))
    def test_worst_equals_the_worst_of_every_feature_built(self, seed: int) -> None:
        """The vectorised worst agrees with a scan of materialised features, ties included."""
        specs = _specs(120, seed)
        rows = 40
        columns = {
            specs[i].name: ColumnCounts(rows, present=rows - k, missing=k, nan=k // 2)
            for i, k in ((3, 5), (10, 40), (50, 0))
        }
        report = assess_quality(Schema(specs), columns, WindowTotals(rows, 4))
        every: list[FeatureQuality] = list(report.features)
        assert [f.name for f in every] == [s.name for s in specs]
        for check in ("missing", "nan", "type_mismatch", "out_of_range"):
            rated = [(f.name, r) for f in every if (r := f.excess(check)) is not None]
            assert report.worst(check) == max(rated, key=lambda item: (item[1], item[0]))

    def test_absent_features_read_as_missing_from_every_row(self) -> None:
        """A feature without a column is missing 100%; without rows its rates are unknown."""
        specs = _specs(80, 0)
        rates = FeatureRates(schema_index(specs), {}, 25)
        assert rates[5] == absent(specs[5], 25) and rates[5].missing == 1.0
        assert rates.get(specs[7].name) == rates[7] and rates.get("nope") is None
        assert rates[-1] == rates[79] and len(rates[2:5]) == 3
        assert FeatureRates(schema_index(specs), {}, 0).worst("missing") is None


def _held_simulation(
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[threading.Event, threading.Event, list[int]]:
    """`nulls.null_tables` made to wait inside until released: (inside, release, calls)."""
    from sidecar import nulls

    inside, release = threading.Event(), threading.Event()
    calls: list[int] = []
    simulate = nulls.null_tables

    def held(*args: object, **kwargs: object) -> object:
        calls.append(1)
        inside.set()
        release.wait(10)
        return simulate(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(nulls, "null_tables", held)
    return inside, release, calls


class TestCalibrationOfAWideReference:
    def test_observed_columns_first_then_at_most_ahead_more(self) -> None:
        """`calibrate` simulates the observed columns and `ahead` others, not all 300."""
        from sidecar.drift import calibrate
        from sidecar.nulls import Calibration

        calibration = Calibration()
        reference = _wide_reference()
        count = calibrate(
            reference, DriftPolicy(), calibration, observed=["features:x250"], ahead=3
        )
        assert count == 4
        assert calibrate(reference, DriftPolicy(), calibration, ahead=None) == WIDE + 1

    def test_a_cached_table_is_served_while_another_thread_simulates(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A report needing only cached tables never waits behind a long calibration."""
        from sidecar.nulls import BASES, Calibration

        calibration = Calibration()
        reference = _wide_reference()
        first = {"a": (BASES.get(reference.features["x0"]), "wasserstein")}
        cached = calibration.tables(first, 0.001)
        inside, release, _ = _held_simulation(monkeypatch)
        other = {"b": (BASES.get(next(iter(reference.predictions.values()))), "wasserstein")}
        worker = threading.Thread(target=calibration.tables, args=(other, 0.001))
        worker.start()
        assert inside.wait(10)
        served: list[object] = []
        lookup = threading.Thread(target=lambda: served.append(calibration.tables(first, 0.001)))
        lookup.start()
        lookup.join(5)
        answered, simulating = not lookup.is_alive(), worker.is_alive()
        release.set()
        worker.join(30)
        lookup.join(30)
        assert answered and simulating  # served while "b" was still being simulated
        assert served == [cached]

    def test_a_table_being_simulated_is_waited_for_not_simulated_twice(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A report asking for a column the calibration is simulating gets that one table."""
        from sidecar.nulls import BASES, Calibration

        calibration = Calibration()
        basis = BASES.get(next(iter(_wide_reference().predictions.values())))
        inside, release, calls = _held_simulation(monkeypatch)
        results: list[object] = []
        first = threading.Thread(
            target=lambda: results.append(calibration.tables({"a": (basis, "psi")}, 0.001)["a"])
        )
        first.start()
        assert inside.wait(10)
        second = threading.Thread(
            target=lambda: results.append(calibration.tables({"b": (basis, "psi")}, 0.001)["b"])
        )
        second.start()
        second.join(0.5)
        waiting = second.is_alive()
        release.set()
        first.join(30)
        second.join(30)
        assert waiting and len(calls) == 1
        assert len(results) == 2 and results[0] is results[1]
