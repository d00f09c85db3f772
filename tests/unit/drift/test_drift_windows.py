"""Window store: tumbling alignment, views, column caps, merge, persistence, drift report."""

from __future__ import annotations

import json

import numpy as np
import pytest
from datasets import categories, sample

from sidecar.deciles import BIN_LABELS, reference_fractions, slot_labels, window_quantiles
from sidecar.drift import drift_report
from sidecar.drift_rules import DriftPolicy, DriftRule
from sidecar.reference.builder import ProfileBuilder
from sidecar.reference.profile import ReferenceProfile
from sidecar.sketches import NumericColumnSketch, split_column
from sidecar.windows import WindowStore

T0 = 1_700_000_100.0  # the start of a 300 s window


def _reference(rows: int = 5_000) -> ReferenceProfile:
    """A reference with numeric a, b and categorical c, and a numeric prediction."""
    builder = ProfileBuilder(prediction="score")
    builder.add(
        {
            "a": sample("normal", rows, seed=1),
            "b": sample("lognormal", rows, seed=2),
            "c": categories(rows, seed=3),
            "score": sample("uniform", rows, seed=4),
        }
    )
    return builder.build()


def _batch(rows: int, shift_a: float = 0.0, seed: int = 10) -> dict[str, list[object]]:
    """Live feature columns, with column a optionally shifted."""
    return {
        "a": sample("normal", rows, shift_a, seed=seed).tolist(),
        "b": sample("lognormal", rows, seed=seed + 1).tolist(),
        "c": categories(rows, seed=seed + 2),  # type: ignore[dict-item]
    }


def _scores(rows: int, seed: int = 20) -> dict[str, list[object]]:
    """Live prediction column."""
    return {"prediction": sample("uniform", rows, seed=seed).tolist()}


class TestWindows:
    """Tumbling windows and their views."""

    def test_current_is_the_last_window_at_bucket_resolution(self) -> None:
        """`current` spans the 11 buckets up to now and `previous` the 11 before them."""
        store = WindowStore(_reference(), window_seconds=300)
        store.observe(_batch(50), _scores(50), 50, now=600.0 + 10)
        store.observe(_batch(70), _scores(70), 70, now=900.0 + 299.5)
        current = store.snapshot("current", now=1000.0)
        previous = store.snapshot("previous", now=1000.0)
        assert (current.start, current.end, current.rows) == (690.0, 1000.0, 0)
        assert (previous.start, previous.end, previous.rows) == (360.0, 690.0, 50)
        later = store.snapshot("current", now=1199.9)
        assert (later.start, later.rows) == (870.0, 70)

    def test_sliding_view_never_empties_at_a_boundary(self) -> None:
        """With steady traffic the current view holds 1 to 1.1 windows of rows at every moment."""
        store = WindowStore(None, window_seconds=10)
        for tick in range(400):
            store.observe({"x": [1.0] * 5}, {}, 5, now=1000.0 + tick * 0.1)
        rows = [store.snapshot("current", now=1030.0 + i * 0.05).rows for i in range(200)]
        assert min(rows) >= 500 and max(rows) <= 555

    def test_rolling_view_merges_the_last_n_windows(self) -> None:
        """The rolling view covers rolling_windows windows and adds their counts."""
        store = WindowStore(_reference(), window_seconds=60, rolling_windows=3)
        for i in range(5):
            store.observe(_batch(10, seed=i), _scores(10), 10, now=60.0 * i + 1)
        rolling = store.snapshot("rolling", now=60.0 * 4 + 30)
        assert (rolling.start, rolling.end, rolling.rows) == (120.0, 300.0, 30)
        assert rolling.features["a"].count == 30

    def test_late_rows_are_counted_and_dropped(self) -> None:
        """Rows older than the oldest kept window only raise late_rows; aged buckets fold."""
        store = WindowStore(None, window_seconds=10, rolling_windows=2)
        store.observe({"x": [1.0]}, {}, 1, now=100.0)
        store.observe({"x": [1.0]}, {}, 1, now=125.0)
        store.observe({"x": [1.0]}, {}, 1, now=101.0)
        assert store.late_rows == 0
        store.observe({"x": [1.0]}, {}, 1, now=200.0)
        store.observe({"x": [1.0]}, {}, 1, now=105.0)
        assert store.late_rows == 1
        assert store.snapshot("rolling", now=200.0).rows == 1

    def test_columns_beyond_the_cap_are_dropped_and_counted(self) -> None:
        """Columns past max_columns are not tracked and counted in dropped_columns."""
        store = WindowStore(None, max_columns=3)
        store.observe({f"f{i}": [1.0, 2.0] for i in range(5)}, {}, 2, now=T0)
        state = store.snapshot("current", now=T0)
        assert len(state.features) == 3 and store.dropped_columns == 2

    def test_unexpected_features_are_listed(self) -> None:
        """Feature names absent from the reference appear in unexpected_features."""
        store = WindowStore(_reference())
        store.observe({**_batch(5), "surprise": [1.0] * 5}, {}, 5, now=T0)
        assert store.snapshot("current", now=T0).unexpected_features == ("surprise",)

    def test_without_reference_kinds_are_inferred(self) -> None:
        """Without a reference, numbers get a DDSketch and strings a bounded TopK."""
        store = WindowStore(None)
        store.observe({"n": [1.0, 2.0], "s": ["x", "y"]}, {}, 2, now=T0)
        state = store.snapshot("current", now=T0)
        assert state.features["n"].kind == "numeric" and state.features["s"].kind == "categorical"
        report = drift_report(None, state).to_json("m")
        assert report["features"]["n"]["drift"] is None


class TestStoreMergeAndPersistence:
    """Replica stores merge exactly and survive serialisation."""

    def test_replicas_merge_to_the_whole(self) -> None:
        """Two replicas' stores merged equal one store that saw all requests."""
        reference = _reference()
        whole = WindowStore(reference)
        replicas = [WindowStore(reference), WindowStore(reference)]
        for i in range(6):
            batch, scores = _batch(40, seed=i), _scores(40, seed=i)
            whole.observe(batch, scores, 40, now=T0 + 400 * (i % 2))
            replicas[i % 2].observe(batch, scores, 40, now=T0 + 400 * (i % 2))
        replicas[0].merge(replicas[1])
        for view in ("current", "previous"):
            mine = replicas[0].snapshot(view, now=T0 + 400)
            theirs = whole.snapshot(view, now=T0 + 400)
            assert mine.rows == theirs.rows
            for name in theirs.features:
                a, b = mine.features[name].to_dict(), theirs.features[name].to_dict()
                assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)

    def test_round_trip(self) -> None:
        """A store restored from JSON gives the same snapshots."""
        reference = _reference()
        store = WindowStore(reference)
        store.observe(_batch(30), _scores(30), 30, now=T0)
        restored = WindowStore.from_dict(json.loads(json.dumps(store.to_dict())), reference)
        before = store.snapshot("rolling", now=T0).to_dict()
        assert restored.snapshot("rolling", now=T0).to_dict() == before

    def test_a_tumbling_only_store_restores(self) -> None:
        """A store saved before buckets existed (snapshot version 1) restores its windows."""
        reference = _reference()
        store = WindowStore(reference)
        store.observe(_batch(30), _scores(30), 30, now=T0)
        data = store.to_dict()
        old = {k: v for k, v in data.items() if k not in ("buckets", "newest", "bucket_states")}
        old["windows"] = [store.snapshot("rolling", now=T0).to_dict() | {"end": T0 + 300}]
        old["windows"][0]["start"] = T0
        restored = WindowStore.from_dict(json.loads(json.dumps(old)), reference)
        assert restored.snapshot("rolling", now=T0).rows == 30

    def test_set_reference_keeps_counts(self) -> None:
        """A new reference keeps rows and quality counts; only other bins restart a distribution."""
        store = WindowStore(None)
        store.observe({**_batch(20), "a": [None] * 5 + [1.0] * 15}, {}, 20, now=T0)
        store.set_reference(_reference())
        state = store.snapshot("current", now=T0)
        assert state.rows == 20
        assert (state.features["a"].quality.missing, state.features["a"].quality.present) == (5, 15)
        assert state.features["a"].count == 0

    def test_putting_the_same_reference_changes_nothing(self) -> None:
        """Setting an identical reference keeps every sketch as it was."""
        reference = _reference()
        store = WindowStore(reference)
        store.observe(_batch(200), _scores(200), 200, now=T0)
        before = store.snapshot("current", now=T0).to_dict()
        store.set_reference(ReferenceProfile.from_dict(reference.to_dict()))
        assert store.snapshot("current", now=T0).to_dict() == before


class TestDriftReport:
    """Drift verdicts in the API shape."""

    def test_only_the_shifted_feature_drifts(self) -> None:
        """A shifted feature is flagged, unshifted ones are not, in exactly the API shape."""
        store = WindowStore(_reference())
        store.observe(_batch(2_000, shift_a=1.0), _scores(2_000), 2_000, now=T0)
        report = drift_report(store.reference, store.snapshot("current", now=T0))
        body = report.to_json("iris")
        assert set(body) == {"model", "window", "rows", "features", "predictions", "dataset"}
        assert body["window"]["start"].endswith("Z")
        flags = {name: col["drift"] for name, col in body["features"].items()}
        assert flags == {"a": True, "b": False, "c": False}
        assert body["predictions"]["prediction"]["drift"] is False
        assert body["dataset"] == {
            "drifted": 1,
            "total": 3,
            "share": 1 / 3,
            "threshold": 0.5,
            "required": 2,
            "drift": False,
        }
        column = body["features"]["a"]
        assert set(column) == {
            "kind", "count", "reference_count", "missing", "statistics", "method", "value",
            "threshold", "null_quantile", "critical", "drift", "held", "reason",
        }  # fmt: skip
        assert (column["method"], column["threshold"]) == ("wasserstein", 0.1)
        assert set(body["features"]["c"]["statistics"]) == {"psi", "js", "hellinger", "chi2_pvalue"}

    def test_below_min_samples_verdict_is_null(self) -> None:
        """Fewer than min_samples values give drift null and a null dataset verdict."""
        store = WindowStore(_reference())
        store.observe(_batch(50, shift_a=3.0), _scores(50), 50, now=T0)
        body = drift_report(store.reference, store.snapshot("current", now=T0)).to_json("m")
        assert body["features"]["a"]["drift"] is None
        assert body["features"]["a"]["reason"] == "50 rows, need 100"
        assert body["features"]["a"]["statistics"]["wasserstein"] > 1
        assert body["dataset"]["drift"] is None and body["dataset"]["share"] is None

    def test_psi_rule_and_overrides(self) -> None:
        """A per-column PSI override is used for that column only."""
        policy = DriftPolicy(overrides={"b": DriftRule("psi", 0.2)}, min_samples=10)
        store = WindowStore(_reference())
        store.observe(_batch(500), _scores(500), 500, now=T0)
        body = drift_report(store.reference, store.snapshot("current", now=T0), policy).to_json("m")
        assert body["features"]["b"]["method"] == "psi"
        assert body["features"]["a"]["method"] == "wasserstein"

    def test_invalid_policy_raises(self) -> None:
        """An unknown method names itself in the error."""
        with pytest.raises(ValueError, match="'median'"):
            DriftPolicy(numeric=DriftRule("median", 0.1))


class TestExporterHelpers:
    """Decile counts, reference fractions and window quantiles."""

    def test_decile_counts_and_quantiles(self) -> None:
        """Decile bins add up to the window, reference fractions are tenths, p50 is the median."""
        reference = _reference(20_000)
        profile = reference.features["a"]
        sketch = NumericColumnSketch(profile.edges_array)
        data = sample("normal", 10_000, 0.2, seed=9)
        sketch.update(split_column(data))
        assert sketch.binned is not None
        per_bin = np.bincount(slot_labels(profile), weights=sketch.binned.counts, minlength=12)
        assert per_bin.sum() == 10_000 and len(BIN_LABELS) == 12
        fractions = reference_fractions(profile)
        assert fractions["under"] == 0.0
        np.testing.assert_allclose([fractions[str(i)] for i in range(10)], 0.1, atol=1e-9)
        quantiles = window_quantiles(sketch)
        for q, value in quantiles.items():
            assert value == pytest.approx(np.quantile(data, q), abs=0.02)


def test_column_kinds_stay_bounded_when_names_come_and_go() -> None:
    """A payload whose keys change every bucket (ids as keys, say) leaves no trace once its
    windows age out: the remembered sketch kinds stay within the kept windows' columns."""
    store = WindowStore(window_seconds=60.0, rolling_windows=2, max_columns=4, buckets=2)
    for step in range(400):
        names = {f"key{step}_{i}": [float(i)] for i in range(4)}
        store.observe(names, {}, 1, T0 + 30.0 * step)
    kept = set(store.observed("features"))
    assert len(store._kinds) <= max(2 * store.max_columns, len(kept))
    assert kept <= {name for _, name in store._kinds}
