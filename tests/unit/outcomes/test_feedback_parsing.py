"""Parsing feedback bodies and counting their outcomes."""

from __future__ import annotations

import json

import pytest

from sidecar.outcomes.feedback import (
    DEFAULT_MAX_ITEMS,
    FeedbackItem,
    FeedbackResult,
    FeedbackTooLarge,
    apply_feedback,
    parse_feedback,
)
from sidecar.outcomes.predictions import PredictionStore


class TestParse:
    """Body shapes and validation."""

    def test_single_item(self) -> None:
        """One object with a label is one item with one label."""
        parsed = parse_feedback(b'{"request_id": "r1", "label": 1}')
        assert parsed.items == [FeedbackItem("r1", (1.0,))] and parsed.invalid == 0

    def test_batched_request_labels(self) -> None:
        """'labels' gives one label per row; booleans become 'true'/'false'."""
        parsed = parse_feedback({"request_id": "r1", "labels": ["a", True, 2.5]})
        assert parsed.items == [FeedbackItem("r1", ("a", "true", 2.5))]

    def test_list_counts_bad_items_as_invalid(self) -> None:
        """Malformed items in a list are counted and the others kept."""
        body = [
            {"request_id": "ok", "label": "x"},
            {"request_id": "", "label": 1},
            {"request_id": "both", "label": 1, "labels": [1]},
            {"request_id": "neither"},
            {"request_id": "nested", "label": {"a": 1}},
            {"request_id": "empty", "labels": []},
            "not an object",
        ]
        parsed = parse_feedback(json.dumps(body))
        assert [i.request_id for i in parsed.items] == ["ok"]
        assert parsed.invalid == 6

    def test_limit_is_ten_thousand(self) -> None:
        """10,000 items parse; 10,001 raise FeedbackTooLarge, a ValueError."""
        body = [{"request_id": f"r{i}", "label": 0} for i in range(DEFAULT_MAX_ITEMS)]
        assert len(parse_feedback(body).items) == DEFAULT_MAX_ITEMS
        body.append({"request_id": "one-more", "label": 0})
        with pytest.raises(FeedbackTooLarge, match="10001"):
            parse_feedback(body)
        assert issubclass(FeedbackTooLarge, ValueError)

    @pytest.mark.parametrize("body", [b"{not json", b"42", b'{"label": 1}'])
    def test_bad_bodies_raise(self, body: bytes) -> None:
        """A body that is not JSON or not an item or list raises ValueError."""
        with pytest.raises(ValueError):
            parse_feedback(body)


class TestApply:
    """Joining parsed items and counting outcomes."""

    def test_counts_matched_unknown_duplicate_invalid(self) -> None:
        """Duplicates within one call count once as matched; mismatched rows are invalid."""
        store = PredictionStore()
        for rid in ("a", "b", "c"):
            store.put(rid, 0.0, ["1"], None, None, 0.0)
        parsed = parse_feedback(
            [
                {"request_id": "a", "label": 1},
                {"request_id": "a", "label": 0},
                {"request_id": "b", "labels": [1, 0]},
                {"request_id": "zzz", "label": 1},
                {"request_id": "c", "label": [1]},
            ]
        )
        result, matched = apply_feedback(store, parsed.items, 1.0, parsed.invalid)
        assert result == FeedbackResult(matched=1, unknown=1, duplicate=1, invalid=2)
        assert [m.labels for m in matched] == [(1.0,)]

    def test_result_adds_and_serialises(self) -> None:
        """Results add field by field and round-trip through JSON."""
        total = FeedbackResult(1, 2, 3, 4) + FeedbackResult(10, 20, 30, 40)
        assert total.to_json() == {"matched": 11, "unknown": 22, "duplicate": 33, "invalid": 44}
        assert FeedbackResult.from_json(total.to_json()) == total
        assert total.total == 110
