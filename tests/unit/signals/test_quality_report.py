"""Data quality counts and rates against a schema (sidecar.quality)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sidecar.feature_rates import FeatureSpec
from sidecar.quality import (
    ColumnCounts,
    Schema,
    WindowTotals,
    assess_quality,
    count_column,
    schema_from_window,
    tolerant_bounds,
)

AGE = FeatureSpec("age", "numeric", 18.0, 90.0)
CITY = FeatureSpec("city", "categorical")
SCHEMA = Schema((AGE, CITY), rows_per_request=(1.0, 8.0))


def _totals(rows: int = 10, **kw: int) -> WindowTotals:
    base = {
        "requests": 5,
        "rows_per_request_sum": rows,
        "rows_per_request_count": 5,
        "rows_per_request_min": 1,
        "rows_per_request_max": 4,
    }
    base.update(kw)
    return WindowTotals(rows=rows, **base)


class TestCountColumn:
    def test_counts_each_kind_of_bad_value(self) -> None:
        """None is missing, NaN/inf is nan, a string is a type mismatch, 200 is out of range."""
        values = [20.0, None, math.nan, math.inf, "x", 200.0, 30.0, 17.0]
        c = count_column(values, AGE)
        assert (c.rows, c.present, c.missing, c.nan, c.type_mismatch, c.out_of_range) == (
            8,
            7,
            1,
            2,
            1,
            2,
        )
        assert (c.minimum, c.maximum) == (17.0, 200.0)

    def test_tolerance_widens_the_range(self) -> None:
        """With 10% tolerance the range 18-90 becomes 10.8-97.2, so 17 and 95 are in range."""
        c = count_column([17.0, 95.0, 98.0], AGE, tolerance=0.1)
        assert c.out_of_range == 1
        assert tolerant_bounds(18.0, 90.0, 0.1) == pytest.approx((10.8, 97.2))

    def test_categorical_numbers_are_mismatches(self) -> None:
        """A finite number in a categorical column is a type mismatch; NaN counts as nan."""
        c = count_column(["a", 3.0, math.nan, None], CITY)
        assert (c.type_mismatch, c.nan, c.missing, c.out_of_range) == (1, 1, 1, 0)

    def test_matches_numpy_on_seeded_data(self) -> None:
        """Out-of-range and NaN counts equal numpy's on 1,000 seeded values."""
        rng = np.random.default_rng(7)
        x = rng.normal(50, 30, 1000)
        x[rng.choice(1000, 40, replace=False)] = np.nan
        c = count_column([float(v) for v in x], AGE)
        finite = x[np.isfinite(x)]
        assert c.nan == 40
        assert c.out_of_range == int(np.sum((finite < 18) | (finite > 90)))

    def test_merge_adds_counts(self) -> None:
        """Merging two batches equals counting their concatenation."""
        a, b = [20.0, None, "x"], [math.nan, 100.0, 40.0]
        assert count_column(a, AGE).merge(count_column(b, AGE)) == count_column(a + b, AGE)

    def test_rejects_inconsistent_counts(self) -> None:
        """A count above the row count is a ValueError naming the field."""
        with pytest.raises(ValueError, match="missing=5"):
            ColumnCounts(rows=3, present=0, missing=5)


class TestAssessQuality:
    def test_rates_are_shares_of_rows(self) -> None:
        """Each rate is the count divided by the window's rows."""
        cols = {
            "age": ColumnCounts(10, 8, 2, 1, 1, 3),
            "city": ColumnCounts(10, 10, 0, kind="categorical"),
        }
        report = assess_quality(SCHEMA, cols, _totals(payload_errors=1))
        age = report.features[0]
        assert (age.missing, age.nan, age.type_mismatch, age.out_of_range) == (0.2, 0.1, 0.1, 0.3)
        assert report.payload_error_rate == 0.2
        assert report.worst("missing") == ("age", 0.2)

    def test_absent_reference_feature_is_fully_missing(self) -> None:
        """A schema feature with no column at all has a missing rate of 1."""
        report = assess_quality(SCHEMA, {"age": ColumnCounts(10, 10, 0)}, _totals())
        assert report.features[1].missing == 1.0
        assert report.to_json()["features"]["city"]["missing"] == 1.0

    def test_unexpected_names_are_bounded(self) -> None:
        """Unknown columns are listed sorted up to the bound, and counted in full."""
        cols = {f"x{i:02d}": ColumnCounts(10, 10, 0) for i in range(30)}
        report = assess_quality(SCHEMA, cols, _totals(), unexpected=["zz"], max_unexpected_names=5)
        assert report.unexpected_features == ("x00", "x01", "x02", "x03", "x04")
        assert report.unexpected_count == 31

    def test_rows_per_request_outside_usual_range(self) -> None:
        """A batch of 20 rows is outside the usual 1-8 range; 1-4 is inside."""
        inside = assess_quality(SCHEMA, {}, _totals())
        outside = assess_quality(SCHEMA, {}, _totals(rows_per_request_max=20))
        assert inside.rows_per_request.outside is False
        assert outside.rows_per_request.outside is True
        assert inside.rows_per_request.mean == 2.0

    def test_empty_window_has_unknown_rates(self) -> None:
        """With no rows and no requests every rate is None rather than a division by zero."""
        report = assess_quality(SCHEMA, {}, WindowTotals(rows=0, requests=0))
        assert report.features[0].missing is None
        assert report.payload_error_rate is None
        assert report.worst("nan") is None
        assert report.rows_per_request.outside is None


class TestSchemaFromWindow:
    def test_first_window_defines_the_schema(self) -> None:
        """Without a reference, present columns, their kinds, ranges and batch sizes are learned."""
        cols = {
            "b": count_column([1.0, 5.0], FeatureSpec("b", "numeric")),
            "a": count_column(["u", "v"], FeatureSpec("a", "categorical")),
            "gone": ColumnCounts.absent(2),
        }
        schema = schema_from_window(cols, _totals(rows=2))
        assert [f.name for f in schema.features] == ["a", "b"]
        assert schema.features[1] == FeatureSpec("b", "numeric", 1.0, 5.0)
        assert schema.rows_per_request == (1.0, 4.0)

    def test_rejects_bad_spec(self) -> None:
        """An unknown kind is a ValueError naming it."""
        with pytest.raises(ValueError, match="'text'"):
            FeatureSpec("f", "text")  # type: ignore[arg-type]
