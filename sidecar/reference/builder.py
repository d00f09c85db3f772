"""Build a `ReferenceProfile` incrementally from column chunks or from live rows.

Pass 1 keeps, per column, exact count/missing/min/max/mean/std (`Moments`), a uniform reservoir
sample of at most DEFAULT_SAMPLE_SIZE = 1,000,000 finite values (numeric) or a bounded `TopK` of
categories (capacity max(10 * top_k, 1000)). Bin edges are the reservoir's quantiles at
0, 1/B, ..., 1 (plus 0.0001 ... 0.005 and 0.995 ... 0.9999 in the tails, so at most B + 12
bins) with e_0 = the exact min and e_B one ulp above the exact max.

When every numeric column fitted in its reservoir and no categorical column overflowed its TopK,
one pass is exact: edges are the data's own quantiles and counts are computed from the sample.
Otherwise `needs_second_pass` is true: call `start_counting()` and feed the same chunks again, and
the counts per bin and per category are exact while the edges are quantiles of a 10^6-value
uniform sample (by the DKW inequality each edge's rank is within +/-0.2% of its target with
probability >= 99.96%). Memory: 8 MB per numeric column at most (the reservoir), bounded per
categorical column by the TopK capacity.

Kind: a column listed in `categorical` is categorical; otherwise the first chunk holding a
non-missing value decides: numeric when at most DEFAULT_MAX_BAD_SHARE = 1% of its values are
text, else categorical. Text in a numeric column (in that chunk or later) and non-finite numbers
count as `invalid` and are left out of every statistic, as missing cells are; `notes()` gives
their count and the first one's row for the command to report. Numbers in a categorical column
become categories (`category_key`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from sidecar.outcomes.labels import DEFAULT_THRESHOLD
from sidecar.records import Columns
from sidecar.reference.calibration import OutcomeCollector
from sidecar.reference.profile import ColumnProfile, ReferenceProfile
from sidecar.sketches.binned import BinnedCounts
from sidecar.sketches.categorical import CategoricalCounts, TopK
from sidecar.sketches.moments import Moments
from sidecar.sketches.values import ColumnData, FloatArray, SplitColumn, category_key, split_column

DEFAULT_BINS = 100
DEFAULT_TOP_K = 100
DEFAULT_SAMPLE_SIZE = 1_000_000
DEFAULT_BOOTSTRAP_ROWS = 10_000
DEFAULT_MAX_BAD_SHARE = 0.01
PREDICTION_COLUMN = "prediction"
TAIL_LEVELS = np.array([1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3])


def infer_kind(column: SplitColumn, max_bad_share: float = DEFAULT_MAX_BAD_SHARE) -> str:
    """Numeric when at most `max_bad_share` of the present values are text, else categorical."""
    return "categorical" if len(column.strings) > max_bad_share * column.present else "numeric"


@dataclass(frozen=True, slots=True)
class ColumnNote:
    """What a person should hear about one profiled column's values after pass 1."""

    group: str
    name: str
    kind: str
    inferred: bool
    """Whether the kind came from the data (not from `categorical=`)."""
    present: int
    """Non-missing values seen."""
    text_in_numeric: int
    """Text values in a numeric column (counted as invalid, left out like missing)."""
    numbers_in_categorical: int
    """Numbers in a categorical column (kept as categories)."""
    first_text: tuple[int, str] | None
    """(1-based data row, value) of the first text value in a numeric column."""


class _ColumnBuilder:
    """Pass-1 state and pass-2 counters for one column."""

    def __init__(self, kind: str | None, sample_size: int, top_k: int, seed: int) -> None:
        self.kind = kind
        self.missing = 0
        self.invalid = 0
        self.moments = Moments()
        self.sample: FloatArray = np.empty(min(sample_size, 1024), dtype=np.float64)
        self.sample_size = sample_size
        self.rng = np.random.default_rng(seed)
        self.top = TopK(max(10 * top_k, 1000))
        self.categories = 0
        self.binned: BinnedCounts | None = None
        self.counted: CategoricalCounts | None = None
        self.inferred = kind is None
        self.text_in_numeric = 0
        self.numbers_in_categorical = 0
        self.first_text: tuple[int, str] | None = None

    def add(self, column: SplitColumn) -> None:
        """Pass 1: moments, reservoir sample or category summary."""
        if self.kind is None and column.present:
            self.kind = infer_kind(column)
        self.missing += column.missing
        if self.kind == "categorical":
            values = self._categories(column)
            self.categories += len(values)
            self.numbers_in_categorical += int(column.numbers.size)
            self.top.add_counts(Counter(values))
            return
        self.text_in_numeric += len(column.strings)
        self.invalid += column.non_finite + len(column.strings)
        self.moments.update(column.numbers)
        self._reservoir(column.numbers)

    def note(self, group: str, name: str) -> ColumnNote:
        """This column's `ColumnNote`."""
        categorical = self.kind == "categorical"
        present = self.categories if categorical else self.moments.count + self.invalid
        return ColumnNote(
            group, name, self.kind or "numeric", self.inferred, present,
            self.text_in_numeric, self.numbers_in_categorical, self.first_text,
        )  # fmt: skip

    def count(self, column: SplitColumn) -> None:
        """Pass 2: exact counts on the frozen edges or categories."""
        if self.binned is not None:
            self.binned.update(column.numbers)
        elif self.counted is not None:
            self.counted.update(self._categories(column))

    def count_pass_one(self) -> None:
        """Exact pass-2 counts from pass-1 state, valid when `exact` is true."""
        if self.binned is not None:
            self.binned.update(self.sample[: self.moments.count])
        elif self.counted is not None:
            counted = self.counted
            for i, name in enumerate(counted.categories):
                counted.counts[i] = self.top.counts.get(name, 0)
            counted.unseen = self.categories - int(counted.counts.sum())

    @staticmethod
    def _categories(column: SplitColumn) -> list[str]:
        """Values of a categorical column as category names."""
        return column.strings + [category_key(float(v)) for v in column.numbers]

    def _reservoir(self, values: FloatArray) -> None:
        """Vitter's algorithm R, vectorised: value i replaces slot j ~ U{0..i} when j < R."""
        seen = self.moments.count - values.size
        fill = max(0, min(self.sample_size - seen, values.size))
        if fill:
            if seen + fill > self.sample.size:
                grown = np.empty(min(self.sample_size, 2 * (seen + fill)), dtype=np.float64)
                grown[:seen] = self.sample[:seen]
                self.sample = grown
            self.sample[seen : seen + fill] = values[:fill]
        rest = values[fill:]
        if rest.size:
            positions = np.arange(seen + fill, seen + fill + rest.size)
            slots = (self.rng.random(rest.size) * (positions + 1)).astype(np.int64)
            keep = slots < self.sample_size
            self.sample[slots[keep]] = rest[keep]

    @property
    def exact(self) -> bool:
        """Whether pass 1 saw every value (no second pass needed)."""
        if self.kind == "categorical":
            return sum(self.top.counts.values()) == self.categories
        return self.moments.count <= self.sample_size

    def freeze(self, bins: int, top_k: int) -> None:
        """Fix edges or categories for exact counting."""
        if self.kind == "categorical":
            chosen = [name for name, _ in self.top.top(top_k)]
            self.counted = CategoricalCounts(chosen)
        elif self.moments.count:
            self.binned = BinnedCounts(self._edges(bins))

    def _edges(self, bins: int) -> FloatArray:
        """Quantile edges of the sample, with the exact min and max at the ends, de-duplicated."""
        sample = self.sample[: min(self.moments.count, self.sample_size)]
        levels = np.linspace(0.0, 1.0, bins + 1)
        # Extra edges in the outer 1%: the extreme bins of long-tailed data are wide, and the
        # Wasserstein and KS error of the within-bin model grows with bin width.
        tails = TAIL_LEVELS[TAIL_LEVELS < 1.0 / bins]
        levels = np.concatenate((levels, tails, 1.0 - tails))
        edges = np.quantile(sample, np.sort(levels))
        # The top edge sits one ulp above the max so that every bin is half-open [e_k, e_k+1):
        # a point mass at the max then gets a bin of its own, as every other edge value does.
        edges[0] = self.moments.minimum
        edges[-1] = np.nextafter(self.moments.maximum, np.inf)
        return np.unique(np.clip(edges, self.moments.minimum, edges[-1]))

    def profile(self) -> ColumnProfile:
        """The finished column profile (after freeze and, if needed, pass 2)."""
        if self.kind == "categorical" and self.counted is not None:
            pairs = [
                (n, int(c))
                for n, c in zip(self.counted.categories, self.counted.counts, strict=True)
            ]
            pairs.sort(key=lambda item: (-item[1], item[0]))
            return ColumnProfile(
                "categorical", self.categories, self.missing, self.invalid,
                categories=tuple(pairs), other=self.counted.unseen,
            )  # fmt: skip
        m = self.moments
        if self.binned is None:
            # No finite value at all: an empty numeric profile over a unit placeholder bin.
            return ColumnProfile(
                "numeric", 0, self.missing, self.invalid, 0.0, 0.0, 0.0, 0.0,
                (0.0, 1.0), (0, 0, 0), (0.0, 0.0, 0.0),
            )  # fmt: skip
        b = self.binned
        return ColumnProfile(
            "numeric", m.count, self.missing, self.invalid, m.minimum, m.maximum, m.mean, m.std,
            tuple(b.edges.tolist()), tuple(b.counts.tolist()), tuple(b.sums.tolist()),
        )  # fmt: skip


class ProfileBuilder:
    """Incremental reference-profile builder over column chunks (files) or live rows (bootstrap)."""

    def __init__(
        self,
        *,
        bins: int = DEFAULT_BINS,
        top_k: int = DEFAULT_TOP_K,
        categorical: Iterable[str] = (),
        exclude: Iterable[str] = (),
        target: str | None = None,
        prediction: str | None = None,
        sample_size: int = DEFAULT_SAMPLE_SIZE,
        max_rows: int | None = None,
        seed: int = 0,
        probability: Sequence[str] = (),
        threshold: float = DEFAULT_THRESHOLD,
    ) -> None:
        for name, value in (("bins", bins), ("top_k", top_k), ("sample_size", sample_size)):
            if value < 1:
                raise ValueError(f"{name}={value!r} must be >= 1")
        if max_rows is not None and max_rows < 1:
            raise ValueError(f"max_rows={max_rows!r} must be >= 1")
        self.bins, self.top_k, self.sample_size = bins, top_k, sample_size
        self.categorical = frozenset(categorical)
        self.exclude = frozenset(exclude)
        self.target, self.prediction = target, prediction
        self.max_rows = max_rows
        self.seed = seed
        self.rows = 0
        self._columns: dict[tuple[str, str], _ColumnBuilder] = {}
        self._counting = False
        self.threshold = threshold
        self.outcomes = _outcome_collector(target, probability, threshold)

    def _route(self, name: str) -> tuple[str, str] | None:
        """Group and name under which a file column is profiled (None when excluded)."""
        if name in self.exclude or (self.outcomes and name in self.outcomes.probability):
            return None
        if name == self.target:
            return ("target", name)
        if name == self.prediction:
            return ("predictions", PREDICTION_COLUMN)
        return ("features", name)

    def add(self, columns: Mapping[str, ColumnData]) -> None:
        """Feed one chunk of a table (pass 1, or pass 2 after `start_counting()`)."""
        if self.outcomes is not None and not self._counting:
            self.outcomes.add(columns)
        keyed = {}
        for name, values in columns.items():
            key = self._route(name)
            if key is not None:
                keyed[key] = values
        self._feed(keyed, _rows(columns))

    def add_live(self, features: Columns, predictions: Columns, n_rows: int) -> bool:
        """Feed decoded live rows for `reference: bootstrap`; True once max_rows are in."""
        keyed: dict[tuple[str, str], ColumnData] = {}
        keyed.update({("features", k): v for k, v in features.items()})
        keyed.update({("predictions", k): v for k, v in predictions.items()})
        self._feed(keyed, n_rows)
        return self.full

    @property
    def full(self) -> bool:
        """Whether max_rows rows have been taken (always False without max_rows)."""
        return self.max_rows is not None and self.rows >= self.max_rows

    def _feed(self, keyed: Mapping[tuple[str, str], ColumnData], n_rows: int) -> None:
        """Route each column to its builder, truncating at max_rows in pass 1."""
        take = n_rows
        if self.max_rows is not None and not self._counting:
            take = max(0, min(n_rows, self.max_rows - self.rows))
            if take == 0:
                return
        for key, values in keyed.items():
            part = values[:take] if take < n_rows else values
            column = self._columns.get(key)
            if column is None:
                if self._counting:
                    continue
                forced = key[1] in self.categorical or (
                    key[0] == "predictions" and self.prediction in self.categorical
                )
                kind = "categorical" if forced else None
                column = _ColumnBuilder(kind, self.sample_size, self.top_k, self.seed)
                self._columns[key] = column
            split = split_column(part)
            column.count(split) if self._counting else column.add(split)
            if column.kind == "numeric" and split.strings and column.first_text is None:
                column.first_text = _first_text(part, self.rows)
        if not self._counting:
            self.rows += take

    def notes(self) -> list[ColumnNote]:
        """Per column: kind, whether inferred, and the values that did not fit that kind."""
        return [column.note(group, name) for (group, name), column in self._columns.items()]

    @property
    def needs_second_pass(self) -> bool:
        """Whether exact counts need the data fed again (see the module docstring)."""
        return not all(column.exact for column in self._columns.values())

    def start_counting(self) -> None:
        """Freeze edges and categories; later `add()` calls count exactly (pass 2)."""
        for column in self._columns.values():
            column.freeze(self.bins, self.top_k)
        self._counting = True

    def build(self) -> ReferenceProfile:
        """The finished profile; one pass is enough when `needs_second_pass` is False."""
        if not self._counting:
            if self.needs_second_pass:
                raise ValueError("data exceeded one pass: call start_counting() and feed it again")
            self.start_counting()
            for column in self._columns.values():
                column.count_pass_one()
        groups: dict[str, dict[str, ColumnProfile]] = {"features": {}, "predictions": {}}
        target: ColumnProfile | None = None
        for (group, name), column in self._columns.items():
            if group == "target":
                target = column.profile()
            else:
                groups[group][name] = column.profile()
        return ReferenceProfile(
            features=groups["features"],
            predictions=groups["predictions"],
            rows=self.rows,
            target=target,
            target_name=self.target if target is not None else None,
            outcomes=None if self.outcomes is None else self.outcomes.fit(self.threshold),
        )


def _first_text(values: ColumnData, offset: int) -> tuple[int, str] | None:
    """(1-based data row, value) of the first text value; only called when there is one."""
    for index, value in enumerate(values):
        if isinstance(value, str):
            return offset + index + 1, value
    return None


def _outcome_collector(
    target: str | None, probability: Sequence[str], threshold: float
) -> OutcomeCollector | None:
    """The collector of labels and probabilities, when probability columns are named."""
    if not probability:
        return None
    if target is None:
        raise ValueError("probability columns need a target (label) column to calibrate on")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold={threshold!r} is not in [0, 1]")
    return OutcomeCollector(target, probability)


def _rows(columns: Mapping[str, ColumnData]) -> int:
    """Rows in a chunk (length of its first column); raises ValueError on ragged columns."""
    lengths = {len(values) for values in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"columns in one chunk have different lengths: {sorted(lengths)}")
    return lengths.pop() if lengths else 0
