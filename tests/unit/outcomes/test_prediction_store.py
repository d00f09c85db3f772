"""The bounded prediction store: joins, idempotency, eviction and persistence."""

from __future__ import annotations

import json

import pytest

from sidecar.outcomes.predictions import DUPLICATE, INVALID, MATCHED, UNKNOWN, PredictionStore


def _put(store: PredictionStore, rid: str, now: float, rows: int = 1) -> bool:
    return store.put(
        rid,
        300.0,
        ["1"] * rows,
        [(0.2, 0.8)] * rows,
        [("a", "x")] * rows,
        now,
    )


class TestJoin:
    """Matching labels to stored predictions."""

    def test_matched_join_returns_what_was_stored(self) -> None:
        """A join hands back window, predictions, probabilities, groups and labels."""
        store = PredictionStore()
        store.put("r1", 600.0, ["cat", 2.5], [0.9, (0.1, 0.9)], [("a",), ("b",)], now=10.0)
        outcome = store.join("r1", ["cat", 3], now=11.0)
        assert outcome.status == MATCHED
        assert outcome.window_start == 600.0
        assert outcome.predictions == ("cat", 2.5)
        assert outcome.probabilities == (0.9, (0.1, 0.9))
        assert outcome.groups == (("a",), ("b",))
        assert outcome.labels == ("cat", 3.0)

    def test_second_label_is_a_duplicate(self) -> None:
        """Labels for an id already labelled count as duplicate, and the entry stays small."""
        store = PredictionStore()
        _put(store, "r1", 0.0)
        before = store.nbytes()
        assert store.join("r1", ["1"], 1.0).status == MATCHED
        assert store.nbytes() < before
        assert store.join("r1", ["0"], 2.0).status == DUPLICATE
        assert len(store) == 1

    def test_unknown_id(self) -> None:
        """An id never stored is unknown."""
        assert PredictionStore().join("nope", ["1"], 0.0).status == UNKNOWN

    @pytest.mark.parametrize("labels", [["1", "0"], [None], [float("nan")], [True]])
    def test_invalid_labels_leave_the_entry(self, labels: list[object]) -> None:
        """Wrong row counts and missing or non-finite labels are invalid; a later label matches."""
        store = PredictionStore()
        _put(store, "r1", 0.0)
        outcome = store.join("r1", labels, 1.0)  # type: ignore[arg-type]
        assert outcome.status == INVALID and outcome.reason
        assert store.join("r1", ["1"], 2.0).status == MATCHED

    def test_repeated_put_keeps_the_first(self) -> None:
        """A second put for an id is refused."""
        store = PredictionStore()
        assert _put(store, "r1", 0.0)
        assert not store.put("r1", 900.0, ["0"], None, None, 1.0)
        assert store.join("r1", ["1"], 2.0).predictions == ("1",)

    def test_mismatched_lengths_are_rejected(self) -> None:
        """Probabilities or groups of the wrong length raise ValueError."""
        with pytest.raises(ValueError, match="2 probabilities for 1"):
            PredictionStore().put("r", 0.0, ["1"], [0.5, 0.5], None, 0.0)


class TestEviction:
    """Bounds by entries, bytes and age."""

    def test_capacity_evicts_oldest_first(self) -> None:
        """Over max_entries the oldest ids go first and are counted."""
        store = PredictionStore(max_entries=3)
        for i in range(5):
            _put(store, f"r{i}", float(i))
        assert len(store) == 3
        assert store.evictions == {"capacity": 2, "ttl": 0}
        assert store.join("r1", ["1"], 5.0).status == UNKNOWN
        assert store.join("r2", ["1"], 5.0).status == MATCHED

    def test_ttl_evicts_old_entries(self) -> None:
        """Entries older than the TTL are dropped and their labels are unknown."""
        store = PredictionStore(ttl_seconds=100.0)
        _put(store, "old", 0.0)
        _put(store, "new", 50.0)
        assert store.join("old", ["1"], 100.5).status == UNKNOWN
        assert store.join("new", ["1"], 100.5).status == MATCHED
        assert store.evictions["ttl"] == 1
        store.expire(151.0)
        assert len(store) == 0 and store.evictions["ttl"] == 2

    def test_byte_bound_holds(self) -> None:
        """nbytes never exceeds max_bytes, and byte evictions count as capacity."""
        store = PredictionStore(max_bytes=20_000)
        for i in range(1000):
            _put(store, f"request-{i:08d}", float(i), rows=3)
            assert store.nbytes() <= 20_000
        assert store.evictions["capacity"] == 1000 - len(store)
        assert 0 < len(store) < 1000

    def test_nbytes_returns_to_zero(self) -> None:
        """The byte estimate is balanced by eviction."""
        store = PredictionStore(ttl_seconds=1.0)
        for i in range(50):
            _put(store, f"r{i}", 0.0)
        store.join("r3", ["1"], 0.5)
        store.expire(10.0)
        assert store.nbytes() == 0

    @pytest.mark.parametrize("kwargs", [{"max_entries": 0}, {"ttl_seconds": 0}, {"max_bytes": 0}])
    def test_bad_bounds_are_rejected(self, kwargs: dict[str, float]) -> None:
        """Non-positive bounds raise ValueError naming the argument."""
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            PredictionStore(**kwargs)  # type: ignore[arg-type]


class TestPersistence:
    """to_dict / from_dict."""

    def test_round_trip_through_json(self) -> None:
        """A restored store answers joins as the original would, duplicates included."""
        store = PredictionStore(max_entries=10)
        _put(store, "a", 0.0)
        store.put("b", 300.0, [1.5, None], [None, 0.7], None, 1.0)
        store.join("a", ["1"], 2.0)
        restored = PredictionStore.from_dict(json.loads(json.dumps(store.to_dict())))
        assert len(restored) == 2 and restored.nbytes() == store.nbytes()
        assert restored.join("a", ["1"], 3.0).status == DUPLICATE
        outcome = restored.join("b", [1.0, 2.0], 3.0)
        assert outcome.predictions == (1.5, None) and outcome.probabilities == (None, 0.7)
