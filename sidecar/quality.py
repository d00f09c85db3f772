"""Data quality of one window of decoded payloads, checked against an expected schema.

The window code counts, per column, how many rows had the feature present, missing, NaN or
infinite, of the wrong kind (a numeric feature arriving as a string, or the reverse) and outside
the reference range; it hands those counts here as `ColumnCounts`, with window totals in
`WindowTotals`. `assess_quality` turns them into rates (`QualityReport`), all shares of the
window's rows, and judges each against the reference's own rate of the same check
(`FeatureQuality.excess`): a feature missing from 100% of the reference and of the window is
fine. The schema is the reference profile's or, without one, the first window's
(`schema_from_window`).

Bounds: a report holds one `FeatureQuality` (seven numbers) per schema feature and at most
`DEFAULT_MAX_UNEXPECTED_NAMES` unexpected names (the count of distinct unexpected names is kept
in full). Nothing here grows with the number of rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sidecar.feature_rates import (
    CHECKS,
    FeatureKind,
    FeatureQuality,
    FeatureRates,
    FeatureSpec,
    schema_index,
    share,
)
from sidecar.records import Value

DEFAULT_OUT_OF_RANGE_TOLERANCE = 0.0
"""Widen the reference [min, max] by this share of its width on each side before counting."""

DEFAULT_MAX_UNEXPECTED_NAMES = 20
"""At most this many unexpected feature names are listed (sorted); the count is exact."""


@dataclass(frozen=True, slots=True)
class Schema:
    """Expected features plus the usual range of rows per request."""

    features: tuple[FeatureSpec, ...]
    rows_per_request: tuple[float, float] | None = None

    def names(self) -> Mapping[str, int]:
        """The expected feature names (with their positions)."""
        return schema_index(self.features).position


@dataclass(frozen=True, slots=True)
class ColumnCounts:
    """Per-column counts over one window; `rows` is the window's row count for the model.

    `minimum`/`maximum` are the observed finite numeric extremes, used only to learn a schema
    from the first window when there is no reference.
    """

    rows: int
    present: int
    missing: int
    nan: int = 0
    type_mismatch: int = 0
    out_of_range: int = 0
    kind: FeatureKind = "numeric"
    minimum: float | None = None
    maximum: float | None = None

    def __post_init__(self) -> None:
        for name in ("rows", "present", "missing", "nan", "type_mismatch", "out_of_range"):
            value = getattr(self, name)
            if value < 0:
                raise ValueError(f"ColumnCounts.{name}={value!r} is negative")
            if name != "rows" and value > self.rows:
                raise ValueError(f"ColumnCounts.{name}={value!r} exceeds rows={self.rows!r}")

    @classmethod
    def absent(cls, rows: int, kind: FeatureKind = "numeric") -> ColumnCounts:
        """Counts for a batch of `rows` rows whose payload lacked the column entirely."""
        return cls(rows=rows, present=0, missing=rows, kind=kind)

    def merge(self, other: ColumnCounts) -> ColumnCounts:
        """Counts of the union of two windows (or two replicas' windows)."""
        if other.kind != self.kind:
            raise ValueError(f"cannot merge a {self.kind!r} column with a {other.kind!r} one")
        return ColumnCounts(
            self.rows + other.rows,
            self.present + other.present,
            self.missing + other.missing,
            self.nan + other.nan,
            self.type_mismatch + other.type_mismatch,
            self.out_of_range + other.out_of_range,
            self.kind,
            _extreme(min, self.minimum, other.minimum),
            _extreme(max, self.maximum, other.maximum),
        )


@dataclass(frozen=True, slots=True)
class WindowTotals:
    """Window-wide counts: rows, sampled payloads, failed payloads, rows-per-request stats."""

    rows: int
    requests: int
    payload_errors: int = 0
    rows_per_request_sum: int = 0
    rows_per_request_count: int = 0
    rows_per_request_min: int | None = None
    rows_per_request_max: int | None = None

    def __post_init__(self) -> None:
        if self.rows < 0 or self.requests < 0 or self.payload_errors < 0:
            raise ValueError(f"WindowTotals counts must be >= 0, got {self!r}")
        if self.payload_errors > self.requests:
            raise ValueError(
                f"payload_errors={self.payload_errors!r} exceeds requests={self.requests!r}"
            )


@dataclass(frozen=True, slots=True)
class RowsPerRequest:
    """Rows per request in the window against the usual range."""

    mean: float | None
    minimum: int | None
    maximum: int | None
    expected: tuple[float, float] | None
    outside: bool | None
    """True when the window's min or max lies outside the expected range; None when unknown."""


@dataclass(frozen=True, slots=True)
class QualityReport:
    """Data quality of one window: per-feature rates and payload-level figures."""

    rows: int
    requests: int
    features: FeatureRates
    unexpected_features: tuple[str, ...]
    unexpected_count: int
    payload_error_rate: float | None
    rows_per_request: RowsPerRequest

    def worst(self, check: str) -> tuple[str, float] | None:
        """The feature whose rate for `check` most exceeds the reference's own (None: unknown)."""
        return self.features.worst(check)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types, as the admin API serves them."""
        rpr = self.rows_per_request
        return {
            "rows": self.rows,
            "requests": self.requests,
            "features": {
                f.name: {
                    "kind": f.kind,
                    "rows": f.rows,
                    **{check: f.rate(check) for check in CHECKS},
                    "reference": {check: f.reference_rate(check) for check in CHECKS},
                    "excess": {check: f.excess(check) for check in CHECKS},
                }
                for f in self.features
            },
            "unexpected_features": list(self.unexpected_features),
            "unexpected_count": self.unexpected_count,
            "payload_error_rate": self.payload_error_rate,
            "rows_per_request": {
                "mean": rpr.mean,
                "min": rpr.minimum,
                "max": rpr.maximum,
                "expected": list(rpr.expected) if rpr.expected is not None else None,
                "outside": rpr.outside,
            },
        }


def tolerant_bounds(
    minimum: float, maximum: float, tolerance: float = DEFAULT_OUT_OF_RANGE_TOLERANCE
) -> tuple[float, float]:
    """The range [min, max] widened by `tolerance` times its width on each side."""
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"out-of-range tolerance {tolerance!r} must be a finite number >= 0")
    if not minimum <= maximum:
        raise ValueError(f"range minimum {minimum!r} > maximum {maximum!r}")
    slack = tolerance * (maximum - minimum)
    return minimum - slack, maximum + slack


def schema_from_window(columns: Mapping[str, ColumnCounts], totals: WindowTotals) -> Schema:
    """The schema learned from a first window: its columns, kinds, ranges and rows per request."""
    features = tuple(
        FeatureSpec(name, c.kind, c.minimum, c.maximum)
        for name, c in sorted(columns.items())
        if c.present > 0
    )
    lo, hi = totals.rows_per_request_min, totals.rows_per_request_max
    rows_range = (float(lo), float(hi)) if lo is not None and hi is not None else None
    return Schema(features, rows_range)


def _extreme(pick: Any, a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else float(pick(a, b))


def count_column(
    values: Sequence[Value], spec: FeatureSpec, tolerance: float = DEFAULT_OUT_OF_RANGE_TOLERANCE
) -> ColumnCounts:
    """Quality counts of one batch of a column against its expected feature.

    Missing is `None`; NaN/inf counts non-finite floats; type mismatch is a `str` for a numeric
    feature or a float for a categorical one; out of range counts finite numbers outside the
    tolerant reference range. One pass to split types, then numpy on the numeric part.
    """
    numbers = np.fromiter((v for v in values if isinstance(v, float)), dtype=np.float64)
    n_missing = sum(1 for v in values if v is None)
    n_str = len(values) - n_missing - numbers.size
    finite = numbers[np.isfinite(numbers)]
    out = 0
    if spec.kind == "numeric" and spec.minimum is not None and spec.maximum is not None:
        lo, hi = tolerant_bounds(spec.minimum, spec.maximum, tolerance)
        out = int(np.count_nonzero((finite < lo) | (finite > hi)))
    return ColumnCounts(
        rows=len(values),
        present=len(values) - n_missing,
        missing=n_missing,
        nan=int(numbers.size - finite.size),
        type_mismatch=n_str if spec.kind == "numeric" else int(finite.size),
        out_of_range=out,
        kind=spec.kind,
        minimum=float(finite.min()) if finite.size else None,
        maximum=float(finite.max()) if finite.size else None,
    )


def _observed(spec: FeatureSpec, counts: ColumnCounts) -> FeatureQuality:
    n = counts.rows
    return FeatureQuality(
        spec.name,
        spec.kind,
        n,
        share(counts.missing, n),
        share(counts.nan, n),
        share(counts.type_mismatch, n),
        share(counts.out_of_range, n),
        spec.reference_missing,
        spec.reference_invalid,
    )


def _rows_per_request(totals: WindowTotals, expected: tuple[float, float] | None) -> RowsPerRequest:
    lo, hi = totals.rows_per_request_min, totals.rows_per_request_max
    mean = share(totals.rows_per_request_sum, totals.rows_per_request_count)
    outside = None
    if expected is not None and lo is not None and hi is not None:
        outside = lo < expected[0] or hi > expected[1]
    return RowsPerRequest(mean, lo, hi, expected, outside)


def assess_quality(
    schema: Schema,
    columns: Mapping[str, ColumnCounts],
    totals: WindowTotals,
    unexpected: Iterable[str] = (),
    max_unexpected_names: int = DEFAULT_MAX_UNEXPECTED_NAMES,
) -> QualityReport:
    """Rates of every quality check for one window against `schema`.

    Args:
        unexpected: names seen in the window that are not in the schema (may repeat, may be
            a bounded sample); columns not in the schema are added to them.
    """
    if max_unexpected_names < 0:
        raise ValueError(f"max_unexpected_names={max_unexpected_names!r} must be >= 0")
    expected = schema.names()
    index = schema_index(schema.features)
    observed = {
        j: _observed(index.specs[j], counts)
        for name, counts in columns.items()
        if (j := index.position.get(name)) is not None
    }
    features = FeatureRates(index, observed, totals.rows)
    extra = {n for n in unexpected if n not in expected}
    extra.update(n for n, c in columns.items() if n not in expected and c.present > 0)
    return QualityReport(
        rows=totals.rows,
        requests=totals.requests,
        features=features,
        unexpected_features=tuple(sorted(extra)[:max_unexpected_names]),
        unexpected_count=len(extra),
        payload_error_rate=share(totals.payload_errors, totals.requests),
        rows_per_request=_rows_per_request(totals, schema.rows_per_request),
    )
