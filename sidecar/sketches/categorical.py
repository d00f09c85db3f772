"""Categorical counts against a reference's categories, plus a bounded summary of new ones.

`TopK` is a mergeable frequent-items summary (Misra-Gries as made mergeable by Agarwal et al.,
"Mergeable Summaries", PODS 2012): counters add, and when more than `capacity` keys remain, the
(capacity+1)-th largest count is subtracted from all and non-positive counters are dropped. Each
kept estimate undercounts its true count by at most N / (capacity + 1), N the weight added, and
any key with true count > N / (capacity + 1) is kept. Results are exact while the number of
distinct keys is <= capacity. Memory: at most `capacity` keys of at most DEFAULT_MAX_KEY_CHARS
characters each (longer keys are truncated), whatever the number of distinct values seen.

`CategoricalCounts` holds exact counts of each reference category (an int64 array aligned with
the reference's top-K list), an exact `unseen` count of everything else, and a `TopK` of the
unseen values. Counts merge exactly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

DEFAULT_NEW_CAPACITY = 32
DEFAULT_MAX_KEY_CHARS = 200


class TopK:
    """Bounded mergeable frequent-items summary (Misra-Gries); exact below capacity."""

    __slots__ = ("capacity", "counts")

    def __init__(self, capacity: int = DEFAULT_NEW_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"capacity={capacity!r} must be >= 1")
        self.capacity = capacity
        self.counts: dict[str, int] = {}

    def add_counts(self, counts: Mapping[str, int]) -> None:
        """Add weighted keys (a batch's distinct values and their counts)."""
        for key, count in counts.items():
            key = key[:DEFAULT_MAX_KEY_CHARS]
            self.counts[key] = self.counts.get(key, 0) + count
        self._prune()

    def merge(self, other: TopK) -> None:
        """Add another summary's counters."""
        self.add_counts(other.counts)

    def _prune(self) -> None:
        """Keep at most `capacity` counters by subtracting the (capacity+1)-th largest count."""
        if len(self.counts) <= self.capacity:
            return
        ordered = sorted(self.counts.values(), reverse=True)
        cut = ordered[self.capacity]
        self.counts = {k: c - cut for k, c in self.counts.items() if c > cut}

    def top(self, n: int | None = None) -> list[tuple[str, int]]:
        """Keys by descending count (ties by key), at most n."""
        ranked = sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))
        return ranked if n is None else ranked[:n]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {"capacity": self.capacity, "counts": dict(self.top())}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TopK:
        """Restore from `to_dict()` output."""
        summary = cls(int(data["capacity"]))
        summary.counts = {str(k): int(v) for k, v in data["counts"].items()}
        summary._prune()
        return summary


class CategoricalCounts:
    """Exact counts of the reference categories, an exact unseen count and a TopK of new values."""

    __slots__ = ("_index", "categories", "counts", "new", "unseen")

    def __init__(
        self, categories: Iterable[str] = (), new_capacity: int = DEFAULT_NEW_CAPACITY
    ) -> None:
        self.categories = tuple(categories)
        self._index = {name: i for i, name in enumerate(self.categories)}
        self.counts: npt.NDArray[np.int64] = np.zeros(len(self.categories), dtype=np.int64)
        self.unseen = 0
        self.new = TopK(new_capacity)

    def update(self, values: Iterable[str]) -> None:
        """Add a batch of category values (counted once per distinct value in C)."""
        fresh: dict[str, int] = {}
        for key, count in Counter(values).items():
            slot = self._index.get(key)
            if slot is None:
                fresh[key] = count
            else:
                self.counts[slot] += count
        if fresh:
            self.unseen += sum(fresh.values())
            self.new.add_counts(fresh)

    def merge(self, other: CategoricalCounts) -> None:
        """Add another sketch over the same categories."""
        if other.categories != self.categories:
            raise ValueError("cannot merge categorical counts over different categories")
        self.counts += other.counts
        self.unseen += other.unseen
        self.new.merge(other.new)

    @property
    def total(self) -> int:
        """Values counted."""
        return int(self.counts.sum()) + self.unseen

    @property
    def nbytes(self) -> int:
        """Approximate bytes held: counts array plus new-value keys and counters."""
        keys = sum(len(k) + 57 for k in self.new.counts) + 28 * len(self.new.counts)
        return int(self.counts.nbytes) + 8 + keys

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form (categories are the reference's and not repeated)."""
        return {"counts": self.counts.tolist(), "unseen": self.unseen, "new": self.new.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any], categories: Iterable[str] = ()) -> CategoricalCounts:
        """Restore over the given categories; raises ValueError when the sizes disagree."""
        new = TopK.from_dict(data["new"])
        sketch = cls(categories, new.capacity)
        counts = np.asarray(data["counts"], dtype=np.int64)
        if counts.shape != sketch.counts.shape:
            raise ValueError(
                f"categorical counts have {counts.size} slots, reference has "
                f"{sketch.counts.size} categories"
            )
        sketch.counts, sketch.unseen, sketch.new = counts, int(data["unseen"]), new
        return sketch
