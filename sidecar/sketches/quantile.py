"""A DDSketch-style relative-error quantile sketch for numeric columns without a reference.

Mapping (Masson, Rim and Lee, "DDSketch", VLDB 2019): with gamma = (1 + a) / (1 - a), a value
x > 0 goes to key k = ceil(log_gamma(x)), i.e. gamma^(k-1) < x <= gamma^k, and the key is read
back as 2 * gamma^k / (gamma + 1), which is within relative error a of every x in the bucket.
Negative values use a second store keyed by |x|; |x| <= DEFAULT_MIN_VALUE counts as zero.

Guarantee: with a = 1% (default) every quantile estimate q' of a true sample quantile x_q
satisfies |q' - x_q| <= 0.01 * |x_q|, as long as x_q lies in the retained key range. Each store
keeps at most DEFAULT_MAX_BUCKETS = 256 contiguous keys (counts int64: <= 2 KiB per sign, <= 4 KiB
in all); when the key span grows past that, the lowest-magnitude keys collapse into the lowest
kept key, so the guarantee holds for values within a factor gamma^256 ~ 167 of the largest
magnitude seen (per sign). Collapsing depends only on the largest key, so merge is exact: the
merge of sketches of parts equals the sketch of the whole, bucket for bucket.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from sidecar.sketches.values import FloatArray

DEFAULT_RELATIVE_ACCURACY = 0.01
DEFAULT_MAX_BUCKETS = 256
DEFAULT_MIN_VALUE = 1e-9

IntArray = npt.NDArray[np.int64]


class _DenseStore:
    """Contiguous int64 counts for keys offset .. offset + len - 1, capped at max_buckets."""

    __slots__ = ("counts", "max_buckets", "offset")

    def __init__(self, max_buckets: int) -> None:
        self.max_buckets = max_buckets
        self.offset = 0
        self.counts: IntArray = np.zeros(0, dtype=np.int64)

    def add(self, offset: int, counts: IntArray) -> None:
        """Add dense counts starting at key `offset`, collapsing the lowest keys if needed."""
        if counts.size == 0:
            return
        if self.counts.size == 0:
            low, high = offset, offset + counts.size - 1
        else:
            low = min(self.offset, offset)
            high = max(self.offset + self.counts.size, offset + counts.size) - 1
        floor = max(low, high - self.max_buckets + 1)
        merged = np.zeros(high - floor + 1, dtype=np.int64)
        for start, part in ((self.offset, self.counts), (offset, counts)):
            if part.size:
                self._place(merged, floor, start, part)
        self.offset, self.counts = floor, merged

    @staticmethod
    def _place(target: IntArray, floor: int, start: int, part: IntArray) -> None:
        """Add `part` (keys from `start`) into `target` (keys from `floor`), clamping below."""
        cut = floor - start
        if cut > 0:
            target[0] += int(part[:cut].sum())
            part, start = part[cut:], floor
        target[start - floor : start - floor + part.size] += part

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {"offset": self.offset, "counts": self.counts.tolist()}

    def load(self, data: dict[str, Any]) -> None:
        """Restore from `to_dict()` output."""
        counts = np.asarray(data["counts"], dtype=np.int64)
        if counts.size > self.max_buckets:
            raise ValueError(f"store has {counts.size} buckets, max is {self.max_buckets}")
        self.offset, self.counts = int(data["offset"]), counts


class DDSketch:
    """Relative-error quantile sketch: positive and negative log-bucket stores plus a zero count."""

    __slots__ = ("_inv_log_gamma", "_log_gamma", "alpha", "gamma", "negative", "positive", "zero")

    def __init__(
        self,
        relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY,
        max_buckets: int = DEFAULT_MAX_BUCKETS,
    ) -> None:
        if not 0.0 < relative_accuracy < 1.0:
            raise ValueError(f"relative_accuracy={relative_accuracy!r} must be in (0, 1)")
        if max_buckets < 1:
            raise ValueError(f"max_buckets={max_buckets!r} must be >= 1")
        self.alpha = relative_accuracy
        self.gamma = (1 + relative_accuracy) / (1 - relative_accuracy)
        self._log_gamma = math.log(self.gamma)
        self._inv_log_gamma = 1.0 / self._log_gamma
        self.positive = _DenseStore(max_buckets)
        self.negative = _DenseStore(max_buckets)
        self.zero = 0

    @property
    def count(self) -> int:
        """Values added."""
        return int(self.positive.counts.sum() + self.negative.counts.sum()) + self.zero

    def update(self, values: FloatArray) -> None:
        """Add a batch of finite values (vectorised key computation and one bincount per sign)."""
        magnitude = np.abs(values)
        small = magnitude <= DEFAULT_MIN_VALUE
        self.zero += int(small.sum())
        for store, mask in ((self.positive, values > 0), (self.negative, values < 0)):
            selected = magnitude[mask & ~small]
            if selected.size:
                keys = np.ceil(np.log(selected) * self._inv_log_gamma).astype(np.int64)
                high = int(keys.max())
                low = max(int(keys.min()), high - store.max_buckets + 1)
                keys = np.maximum(keys, low)
                store.add(low, np.bincount(keys - low).astype(np.int64))

    def merge(self, other: DDSketch) -> None:
        """Add another sketch with the same accuracy and bucket cap."""
        if other.alpha != self.alpha or other.positive.max_buckets != self.positive.max_buckets:
            raise ValueError("cannot merge DDSketches with different parameters")
        self.positive.add(other.positive.offset, other.positive.counts)
        self.negative.add(other.negative.offset, other.negative.counts)
        self.zero += other.zero

    def quantile(self, q: float) -> float | None:
        """Estimate the q-quantile (lower rank convention); None when empty."""
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile q={q!r} must be in [0, 1]")
        total = self.count
        if total == 0:
            return None
        rank = q * (total - 1)
        seen = 0.0
        neg = self.negative
        for i in range(neg.counts.size - 1, -1, -1):
            seen += int(neg.counts[i])
            if seen > rank:
                return -self._value(neg.offset + i)
        seen += self.zero
        if seen > rank:
            return 0.0
        pos = self.positive
        cumulative = seen + np.cumsum(pos.counts)
        i = int(np.searchsorted(cumulative, rank, side="right"))
        return self._value(pos.offset + min(i, pos.counts.size - 1))

    def _value(self, key: int) -> float:
        """Representative value of a key, within relative error alpha of its bucket."""
        return 2.0 * math.exp(key * self._log_gamma) / (self.gamma + 1.0)

    @property
    def nbytes(self) -> int:
        """Bytes of bucket counts held."""
        return int(self.positive.counts.nbytes + self.negative.counts.nbytes) + 8

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {
            "relative_accuracy": self.alpha,
            "max_buckets": self.positive.max_buckets,
            "zero": self.zero,
            "positive": self.positive.to_dict(),
            "negative": self.negative.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DDSketch:
        """Restore from `to_dict()` output."""
        sketch = cls(float(data["relative_accuracy"]), int(data["max_buckets"]))
        sketch.zero = int(data["zero"])
        sketch.positive.load(data["positive"])
        sketch.negative.load(data["negative"])
        return sketch
