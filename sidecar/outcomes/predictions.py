"""Predictions waiting for their ground truth, keyed by request id.

The store keeps per sampled request only what a label join needs: the window the prediction was
made in, the decoded prediction per row (class label `str` or number), the probability vector or
the maximum probability per row where the model gave one, and the values of the sensitive
attributes per row. Never the payload.

Bounds: at most `max_entries` ids (default 1,000,000) and about `max_bytes` (default 256 MiB);
entries older than `ttl_seconds` (default 24 h) are dropped. Eviction is oldest-first by insertion
and counted by reason (`capacity`, `ttl`). An entry is one packed `bytes` value (8-byte insertion
time + `marshal` of the rest) under its request id, plus one slot in an insertion-order deque:
about 210 bytes for a one-row prediction with a 36-character id and a two-class vector
(measured by tracemalloc in `bench/outcomes_bench.py`; 1 million entries took 248 MiB of RSS).
Once labelled, an entry shrinks to a float marker so that a second label for the same id is
recognised as a duplicate until the marker itself ages out.
"""

from __future__ import annotations

import marshal
import math
import struct
import sys
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sidecar.records import Value

DEFAULT_MAX_ENTRIES = 1_000_000
DEFAULT_TTL_SECONDS = 86_400.0
DEFAULT_MAX_BYTES = 256 * 2**20

# Approximate per-entry cost outside the key and value objects: a dict slot (hash, key, value
# pointers plus its share of the index table and of the dict's growth headroom) and a deque
# pointer; calibrated against tracemalloc and RSS by bench/outcomes_bench.py.
_SLOT_BYTES = 56 + 8
_TIME = struct.Struct("<d")

Probability = tuple[float, ...] | float | None
"""Per row: the whole probability vector, only the probability of the predicted class, or none."""

MATCHED = "matched"
UNKNOWN = "unknown"
DUPLICATE = "duplicate"
INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class JoinOutcome:
    """The result of joining labels to a stored prediction; data fields are set when matched."""

    status: str
    window_start: float | None = None
    predictions: tuple[Value, ...] = ()
    probabilities: tuple[Probability, ...] | None = None
    groups: tuple[tuple[str, ...], ...] | None = None
    labels: tuple[Value, ...] = ()
    reason: str = ""


def valid_label(label: object) -> bool:
    """Whether a label can be scored: a string or a finite number, never missing."""
    if isinstance(label, str):
        return True
    return isinstance(label, float | int) and not isinstance(label, bool) and math.isfinite(label)


class PredictionStore:
    """Bounded, oldest-first store of sampled predictions awaiting labels."""

    def __init__(
        self,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries={max_entries!r} must be at least 1")
        if not ttl_seconds > 0:
            raise ValueError(f"ttl_seconds={ttl_seconds!r} must be positive")
        if max_bytes < 1:
            raise ValueError(f"max_bytes={max_bytes!r} must be at least 1")
        self.max_entries = max_entries
        self.ttl_seconds = float(ttl_seconds)
        self.max_bytes = max_bytes
        self.evictions: dict[str, int] = {"capacity": 0, "ttl": 0}
        self._entries: dict[str, bytes | float] = {}
        self._order: deque[str] = deque()
        self._nbytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def copy(self) -> PredictionStore:
        """An independent copy; entries are immutable, so copying the index is enough.

        Copying 1 million entries takes well under a second where `to_dict` takes ~5 s, so
        snapshots copy under the monitor's lock and serialise outside it.
        """
        twin = PredictionStore.__new__(PredictionStore)
        twin.__dict__.update(self.__dict__)
        twin.evictions = dict(self.evictions)
        twin._entries = dict(self._entries)
        twin._order = self._order.copy()
        return twin

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._entries

    def nbytes(self) -> int:
        """Approximate memory held by the entries, in bytes."""
        return self._nbytes

    def put(
        self,
        request_id: str,
        window_start: float,
        predictions: Sequence[Value],
        probabilities: Sequence[Probability] | None,
        groups: Sequence[tuple[str, ...]] | None,
        now: float,
    ) -> bool:
        """Store one request's predictions; False when the id is already held (first one wins)."""
        self.expire(now)
        if request_id in self._entries:
            return False
        n_rows = len(predictions)
        if probabilities is not None and len(probabilities) != n_rows:
            raise ValueError(f"{len(probabilities)} probabilities for {n_rows} predictions")
        if groups is not None and len(groups) != n_rows:
            raise ValueError(f"{len(groups)} group tuples for {n_rows} predictions")
        payload = (
            float(window_start),
            tuple(predictions),
            None if probabilities is None else tuple(probabilities),
            None if groups is None else tuple(tuple(g) for g in groups),
        )
        value = _TIME.pack(now) + marshal.dumps(payload)
        self._insert(request_id, value)
        self._evict_capacity()
        return True

    def join(self, request_id: str, labels: Sequence[Value], now: float) -> JoinOutcome:
        """Match labels (one per row) to the stored prediction; a second label is a duplicate."""
        self.expire(now)
        value = self._entries.get(request_id)
        if value is None:
            return JoinOutcome(UNKNOWN)
        if isinstance(value, float):
            return JoinOutcome(DUPLICATE)
        window_start, predictions, probabilities, groups = marshal.loads(value[_TIME.size :])
        if len(labels) != len(predictions):
            reason = f"{len(labels)} labels for {len(predictions)} predictions"
            return JoinOutcome(INVALID, reason=reason)
        bad = [label for label in labels if not valid_label(label)]
        if bad:
            return JoinOutcome(INVALID, reason=f"label {bad[0]!r} is not a string or finite number")
        put_time = _TIME.unpack_from(value)[0]
        self._nbytes += sys.getsizeof(put_time) - sys.getsizeof(value)
        self._entries[request_id] = put_time
        return JoinOutcome(
            MATCHED,
            window_start=window_start,
            predictions=predictions,
            probabilities=probabilities,
            groups=groups,
            labels=tuple(float(x) if isinstance(x, int) else x for x in labels),
        )

    def expire(self, now: float) -> int:
        """Drop entries inserted more than `ttl_seconds` before `now`; returns how many."""
        cutoff = now - self.ttl_seconds
        dropped = 0
        while self._order:
            value = self._entries[self._order[0]]
            put_time = value if isinstance(value, float) else _TIME.unpack_from(value)[0]
            if put_time >= cutoff:
                break
            self._pop_oldest()
            dropped += 1
        self.evictions["ttl"] += dropped
        return dropped

    def _insert(self, request_id: str, value: bytes | float) -> None:
        self._entries[request_id] = value
        self._order.append(request_id)
        self._nbytes += sys.getsizeof(request_id) + sys.getsizeof(value) + _SLOT_BYTES

    def _pop_oldest(self) -> None:
        request_id = self._order.popleft()
        value = self._entries.pop(request_id)
        self._nbytes -= sys.getsizeof(request_id) + sys.getsizeof(value) + _SLOT_BYTES

    def _evict_capacity(self) -> None:
        while self._order and (
            len(self._entries) > self.max_entries or self._nbytes > self.max_bytes
        ):
            self._pop_oldest()
            self.evictions["capacity"] += 1

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types, oldest entry first; labelled entries keep only their time."""
        entries: list[list[Any]] = []
        for request_id in self._order:
            value = self._entries[request_id]
            if isinstance(value, float):
                entries.append([request_id, value])
                continue
            window_start, predictions, probabilities, groups = marshal.loads(value[_TIME.size :])
            entries.append(
                [
                    request_id,
                    _TIME.unpack_from(value)[0],
                    window_start,
                    list(predictions),
                    None if probabilities is None else [_plain(p) for p in probabilities],
                    None if groups is None else [list(g) for g in groups],
                ]
            )
        return {
            "max_entries": self.max_entries,
            "ttl_seconds": self.ttl_seconds,
            "max_bytes": self.max_bytes,
            "evictions": dict(self.evictions),
            "entries": entries,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PredictionStore:
        """Rebuild a store written by `to_dict`."""
        store = cls(int(data["max_entries"]), float(data["ttl_seconds"]), int(data["max_bytes"]))
        store.evictions.update({k: int(v) for k, v in data["evictions"].items()})
        for entry in data["entries"]:
            request_id, put_time = str(entry[0]), float(entry[1])
            if len(entry) == 2:
                store._insert(request_id, put_time)
                continue
            probabilities = entry[4]
            payload = (
                float(entry[2]),
                tuple(entry[3]),
                None if probabilities is None else tuple(_restore(p) for p in probabilities),
                None if entry[5] is None else tuple(tuple(map(str, g)) for g in entry[5]),
            )
            store._insert(request_id, _TIME.pack(put_time) + marshal.dumps(payload))
        store._evict_capacity()
        return store


def _plain(probability: Probability) -> list[float] | float | None:
    return list(probability) if isinstance(probability, tuple) else probability


def _restore(probability: object) -> Probability:
    if isinstance(probability, list):
        return tuple(float(p) for p in probability)
    return None if probability is None else float(probability)  # type: ignore[arg-type]
