"""Ground-truth labels posted to `POST /api/v1/feedback`: parsing, validation and counting.

Accepted bodies (JSON):

- one item, `{"request_id": "...", "label": ...}`;
- one item for a batched request, `{"request_id": "...", "labels": [...]}`, matched by row;
- a list of such items, at most `DEFAULT_MAX_ITEMS` (10,000) per call.

A body that is not JSON or has the wrong shape raises `ValueError` (HTTP 400); a list over the
limit raises `FeedbackTooLarge`, a `ValueError` the HTTP layer maps to 413. A malformed item
inside a list is counted as invalid and the rest still count. Labels are strings or finite
numbers; booleans become "true"/"false" as decoded predictions do. Counts are per item (one
request id), not per row. Memory: the parsed items of one call, at most 10,000.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from sidecar.outcomes.predictions import (
    DUPLICATE,
    INVALID,
    MATCHED,
    UNKNOWN,
    JoinOutcome,
    PredictionStore,
)
from sidecar.records import Value

DEFAULT_MAX_ITEMS = 10_000


class FeedbackTooLarge(ValueError):
    """More items in one call than the limit allows (HTTP 413)."""


@dataclass(frozen=True, slots=True)
class FeedbackItem:
    """Labels for one request id, one per predicted row."""

    request_id: str
    labels: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class ParsedFeedback:
    """The valid items of a call and how many were malformed."""

    items: list[FeedbackItem]
    invalid: int


@dataclass(frozen=True, slots=True)
class FeedbackResult:
    """Counts of labels by outcome: joined, for an unknown or evicted id, repeated, malformed."""

    matched: int = 0
    unknown: int = 0
    duplicate: int = 0
    invalid: int = 0

    def __add__(self, other: FeedbackResult) -> FeedbackResult:
        return FeedbackResult(
            self.matched + other.matched,
            self.unknown + other.unknown,
            self.duplicate + other.duplicate,
            self.invalid + other.invalid,
        )

    @property
    def total(self) -> int:
        """All items counted."""
        return self.matched + self.unknown + self.duplicate + self.invalid

    def to_json(self) -> dict[str, int]:
        """A dict of plain JSON types."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeedbackResult:
        """Read counts as the endpoint returns them."""
        return cls(*(int(data.get(k, 0)) for k in ("matched", "unknown", "duplicate", "invalid")))


def _label(value: object) -> Value:
    """A label as a `Value`, or raise ValueError naming it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    raise ValueError(f"label {value!r} is not a string, boolean or finite number")


def parse_item(raw: object) -> FeedbackItem:
    """One item, or ValueError saying what is wrong with it."""
    if not isinstance(raw, dict):
        raise ValueError(f"item {raw!r:.80} is not an object")
    request_id = raw.get("request_id")
    if not isinstance(request_id, str) or not request_id:
        raise ValueError(f"request_id {request_id!r:.80} is not a non-empty string")
    if ("label" in raw) == ("labels" in raw):
        raise ValueError(f"item for {request_id!r} needs exactly one of 'label' and 'labels'")
    if "label" in raw:
        return FeedbackItem(request_id, (_label(raw["label"]),))
    labels = raw["labels"]
    if not isinstance(labels, list) or not labels:
        raise ValueError(f"labels {labels!r:.80} for {request_id!r} is not a non-empty list")
    return FeedbackItem(request_id, tuple(_label(v) for v in labels))


def parse_feedback(
    body: bytes | str | object, max_items: int = DEFAULT_MAX_ITEMS
) -> ParsedFeedback:
    """Parse a feedback body (raw JSON or already decoded) into items and an invalid count."""
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body)
        except json.JSONDecodeError as exc:
            raise ValueError(f"feedback body is not JSON: {exc}") from None
    if isinstance(body, dict):
        return ParsedFeedback([parse_item(body)], 0)
    if not isinstance(body, list):
        raise ValueError(f"feedback body {body!r:.80} is neither an object nor a list")
    if len(body) > max_items:
        raise FeedbackTooLarge(
            f"{len(body)} feedback items exceed the limit of {max_items} per call"
        )
    items: list[FeedbackItem] = []
    invalid = 0
    for raw in body:
        try:
            items.append(parse_item(raw))
        except ValueError:
            invalid += 1
    return ParsedFeedback(items, invalid)


def apply_feedback(
    store: PredictionStore, items: Iterable[FeedbackItem], now: float, invalid: int = 0
) -> tuple[FeedbackResult, list[JoinOutcome]]:
    """Join items to the store; returns the counts and the matched joins to score."""
    counts = {MATCHED: 0, UNKNOWN: 0, DUPLICATE: 0, INVALID: invalid}
    matched: list[JoinOutcome] = []
    for item in items:
        outcome = store.join(item.request_id, item.labels, now)
        counts[outcome.status] += 1
        if outcome.status == MATCHED:
            matched.append(outcome)
    result = FeedbackResult(counts[MATCHED], counts[UNKNOWN], counts[DUPLICATE], counts[INVALID])
    return result, matched
