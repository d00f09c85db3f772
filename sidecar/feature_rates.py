"""Per-feature quality rates of one window, built only for the features the window observed.

A schema feature the window has no column of is missing from every row: its rates are fixed
(missing 1, the rest 0; None without rows), so `FeatureRates` computes them when read instead of
building one object per feature per report. With a 13,000-feature reference and 40 models that
was 0.5 M objects per scrape; now a report costs what the window observed plus one numpy pass
(`FeatureRates.worst`). Reading every feature (the admin API's JSON) still builds them all.
`schema_index` keeps the arrays of the last `SCHEMA_INDEXES` schemas (by identity).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, overload

import numpy as np
import numpy.typing as npt

from sidecar.derived import Derived

FeatureKind = Literal["numeric", "categorical"]
KINDS: tuple[str, ...] = ("numeric", "categorical")
CHECKS: tuple[str, ...] = ("missing", "nan", "type_mismatch", "out_of_range")

SCHEMA_INDEXES = 4
"""Schemas whose name positions and reference rates stay built: ~100 B a feature."""

KEPT_FROM = 64
"""Schemas of fewer features are indexed anew each time (microseconds) and never kept."""


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """One expected feature: its name, kind and (numeric) reference range."""

    name: str
    kind: FeatureKind
    minimum: float | None = None
    maximum: float | None = None
    reference_missing: float = 0.0
    """Share of the reference's rows missing the feature."""
    reference_invalid: float = 0.0
    """Share of the reference's rows NaN/infinite or of the wrong type (one count in a profile)."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"feature {self.name!r}: kind {self.kind!r} is not one of {KINDS}")
        lo, hi = self.minimum, self.maximum
        if lo is not None and hi is not None and not lo <= hi:
            raise ValueError(f"feature {self.name!r}: minimum {lo!r} > maximum {hi!r}")


@dataclass(frozen=True, slots=True)
class FeatureQuality:
    """Rates of one expected feature over a window; None when the window had no rows."""

    name: str
    kind: FeatureKind
    rows: int
    missing: float | None
    nan: float | None
    type_mismatch: float | None
    out_of_range: float | None
    reference_missing: float = 0.0
    reference_invalid: float = 0.0

    def rate(self, check: str) -> float | None:
        """The rate of one check by name (`missing`, `nan`, `type_mismatch`, `out_of_range`)."""
        if check not in CHECKS:
            raise ValueError(f"unknown quality check {check!r}; expected one of {CHECKS}")
        value: float | None = getattr(self, check)
        return value

    def reference_rate(self, check: str) -> float:
        """The reference's own rate of a check (NaN and type mismatch share one count)."""
        if check == "missing":
            return self.reference_missing
        return 0.0 if check == "out_of_range" else self.reference_invalid

    def excess(self, check: str) -> float | None:
        """How far the window's rate exceeds the reference's own (0 when at or below it)."""
        rate = self.rate(check)
        return None if rate is None else max(0.0, rate - self.reference_rate(check))


def share(count: int, total: int) -> float | None:
    """`count / total`, None without a total."""
    return count / total if total > 0 else None


def absent(spec: FeatureSpec, rows: int) -> FeatureQuality:
    """A schema feature with no column at all: every row of the window lacks it."""
    none = share(0, rows)
    allowance = (spec.reference_missing, spec.reference_invalid)
    return FeatureQuality(
        spec.name, spec.kind, rows, share(rows, rows), none, none, none, *allowance
    )


@dataclass(frozen=True)
class SchemaIndex:
    """A schema's features with their positions, reference rates and name order, as arrays."""

    specs: tuple[FeatureSpec, ...]
    position: Mapping[str, int]
    reference_missing: npt.NDArray[np.float64]
    reference_invalid: npt.NDArray[np.float64]
    rank: npt.NDArray[np.int64]
    """Each feature's place in name order (the tie-break of `worst`)."""


_INDEXES: Derived[SchemaIndex] = Derived(SCHEMA_INDEXES)


def schema_index(specs: tuple[FeatureSpec, ...]) -> SchemaIndex:
    """The arrays of a schema's features (kept for the last few schemas, by identity)."""

    def build() -> SchemaIndex:
        names = [s.name for s in specs]
        rank = np.empty(len(specs), dtype=np.int64)
        rank[np.argsort(np.asarray(names, dtype=object), kind="stable")] = np.arange(len(specs))
        return SchemaIndex(
            specs,
            {name: i for i, name in enumerate(names)},
            np.fromiter((s.reference_missing for s in specs), np.float64, len(specs)),
            np.fromiter((s.reference_invalid for s in specs), np.float64, len(specs)),
            rank,
        )

    return _INDEXES.get((specs,), build) if len(specs) >= KEPT_FROM else build()


class FeatureRates(Sequence[FeatureQuality]):
    """Every schema feature's rates over one window, in schema order (read-only)."""

    def __init__(self, schema: SchemaIndex, observed: Mapping[int, FeatureQuality], rows: int):
        self.schema = schema
        self.observed = observed
        """Rates of the features the window has a column of, by schema position."""
        self.rows = rows

    def __len__(self) -> int:
        return len(self.schema.specs)

    @overload
    def __getitem__(self, i: int) -> FeatureQuality: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[FeatureQuality]: ...
    def __getitem__(self, i: int | slice) -> FeatureQuality | Sequence[FeatureQuality]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        j = range(len(self))[i]
        found = self.observed.get(j)
        return found if found is not None else absent(self.schema.specs[j], self.rows)

    def __iter__(self) -> Iterator[FeatureQuality]:
        return (self[j] for j in range(len(self)))

    def get(self, name: str) -> FeatureQuality | None:
        """One feature's rates by name (None when the schema lacks it)."""
        j = self.schema.position.get(name)
        return None if j is None else self[j]

    def worst(self, check: str) -> tuple[str, float] | None:
        """The feature whose excess for `check` is largest, ties to the last name; None: unknown."""
        rated = [(f.name, r) for f in self.observed.values() if (r := f.excess(check)) is not None]
        best = self._worst_absent(check)
        if best is not None:
            rated.append(best)
        return max(rated, key=lambda item: (item[1], item[0])) if rated else None

    def _worst_absent(self, check: str) -> tuple[str, float] | None:
        """The worst of the absent features, in one numpy pass (their rate is 1 or 0)."""
        n = len(self)
        if self.rows <= 0 or len(self.observed) >= n:
            return None
        mask = np.ones(n, dtype=bool)
        mask[list(self.observed)] = False
        if check == "missing":
            excess = np.maximum(0.0, 1.0 - self.schema.reference_missing)
        elif check == "out_of_range":
            excess = np.zeros(n)
        else:
            excess = np.maximum(0.0, 0.0 - self.schema.reference_invalid)
        candidates = np.flatnonzero(mask)
        values = excess[candidates]
        top = values.max()
        tied = candidates[values == top]
        last = int(tied[np.argmax(self.schema.rank[tied])])
        return self.schema.specs[last].name, float(top)
