"""How large each drift statistic gets with no drift: null quantiles at n window rows.

Under no drift a window's slot counts are multinomial with the reference's slot proportions p.
For each reference column and statistic, `null_table` draws `DEFAULT_REPLICATES` (600) windows
at each n of `DEFAULT_GRID` (16 to 2,048 rows; seeded, one vectorised `multinomial` per n, the
draws shared by every column with the same p), fits a log-normal to the statistic (mean and std
of its logarithm; see `lognormal_quantile` for why not a gamma) and keeps its (1 - alpha)
quantile times sqrt(n) (n for PSI and the chi-square discrepancy, which scale as chi-square / n),
which is nearly constant in n. `NullTable.quantile`
interpolates that scaled quantile linearly in log n and holds it beyond the grid (the
asymptotic 1/sqrt(n) scaling). The window and the reference are both samples: the quantile is
taken at n_eff = n N / (n + N) for N reference rows, the two-sample statistic's asymptotic
equivalent. Numeric sums are simulated as count * bin mean plus a uniform-within-bin spread
(conservative for point masses). Cost: ~30 ms per column and statistic, once per reference;
memory: 2 * 8 floats per table. Measured false alarms: `bench/verdicts_bench.py`.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from sidecar import statistics as st
from sidecar.reference.profile import ColumnProfile
from sidecar.statistics import FloatArray

DEFAULT_FALSE_ALARM_RATE = 0.001
DEFAULT_REPLICATES = 400
DEFAULT_GRID = (16, 32, 64, 128, 256, 512, 2048)
DEFAULT_SEED = 14
FEW_SLOTS = 8
"""Columns of at most this many slots (categorical columns of few categories) take the empirical
null quantile of `FEW_SLOT_REPLICATES` windows instead of a log-normal fit: their statistics
take few distinct values, many within a fraction of a count of the reference, and the logs of
those (down to -20) inflated the fitted std until a binary column's fitted 0.9995 quantile of
the JS distance read 0.34 where it is 0.145 (100 rows), its interpolated table up to 10x the
statistic's maximum, and no share change could ever be detected."""
FEW_SLOT_REPLICATES = 20_000
QUADRATIC = frozenset({"psi", "chi2"})
"""Statistics that scale as chi-square / n under no drift; the others as sqrt(chi-square / n)."""
DISCREPANCY = {"ks_pvalue": "ks", "chi2_pvalue": "chi2"}
"""The increasing statistic a p-value is a decreasing function of (the others are their own)."""


@dataclass(frozen=True)
class Basis:
    """A reference column's slots as the statistics need them, computed once per profile."""

    kind: str
    counts: FloatArray
    sums: FloatArray
    edges: FloatArray
    groups: npt.NDArray[np.intp]
    scale: FloatArray
    rows: int

    @property
    def proportions(self) -> FloatArray:
        """Reference share of each slot."""
        total = float(self.counts.sum())
        return self.counts / total if total > 0 else self.counts


def numeric_basis(profile: ColumnProfile) -> Basis:
    """The basis of a numeric reference column."""
    counts = np.asarray(profile.counts, dtype=np.float64)
    groups = st.decile_boundaries(counts)
    padded = np.concatenate((groups, np.full(10 - groups.size, groups[-1])))
    scale = profile.std or abs(profile.mean or 0.0) or 1.0
    sums = np.asarray(profile.sums, dtype=np.float64)
    edges = profile.edges_array
    return Basis("numeric", counts, sums, edges, padded, np.asarray(scale), profile.count)


def categorical_basis(counts: Sequence[float], rows: int) -> Basis:
    """The basis of a categorical column's slots (reference categories, maybe "other")."""
    values = np.asarray(counts, dtype=np.float64)
    empty = np.zeros(0)
    return Basis("categorical", values, empty, empty, np.zeros(0, np.intp), np.asarray(1.0), rows)


def stacked(bases: Sequence[Basis]) -> Basis:
    """Bases of one kind and slot count as one basis of 2-d arrays (one row per column)."""
    first = bases[0]
    return Basis(
        first.kind,
        np.stack([b.counts for b in bases]),
        np.stack([b.sums for b in bases]),
        np.stack([b.edges for b in bases]),
        np.stack([b.groups for b in bases]),
        np.stack([b.scale for b in bases]),
        first.rows,
    )


def discrepancies(
    basis: Basis, counts: FloatArray, sums: FloatArray | None, methods: Sequence[str]
) -> dict[str, FloatArray]:
    """Each increasing statistic in `methods` (see DISCREPANCY) for window rows (..., K)."""
    ref = basis.counts
    out: dict[str, FloatArray] = {}
    for method in dict.fromkeys(DISCREPANCY.get(m, m) for m in methods):
        if method == "psi":
            ref_groups = ref if basis.kind == "categorical" else _grouped(ref, basis.groups)
            win_groups = counts if basis.kind == "categorical" else _grouped(counts, basis.groups)
            out[method] = st.psi_rows(ref_groups, win_groups)
        elif method == "js":
            out[method] = st.js_rows(ref, counts)
        elif method == "hellinger":
            out[method] = st.hellinger_rows(ref, counts)
        elif method == "ks":
            out[method] = st.ks_rows(ref, counts)
        elif method == "wasserstein":
            assert sums is not None
            window = (counts, sums)
            out[method] = st.wasserstein_rows(basis.edges, (ref, basis.sums), window) / basis.scale
        elif method == "chi2":
            out[method] = _chi2_discrepancy(ref, counts)
        else:
            raise ValueError(f"no null distribution for drift statistic {method!r}")
    return out


def _grouped(counts: FloatArray, groups: npt.NDArray[np.intp]) -> FloatArray:
    """Slots summed into the padded reference-decile groups (empty pads add nothing)."""
    cumulative = np.cumsum(counts, axis=-1)
    ends = np.take_along_axis(cumulative, np.broadcast_to(groups, (*counts.shape[:-1], 10)), -1)
    result: FloatArray = np.diff(ends, axis=-1, prepend=0.0)
    return result


def _chi2_discrepancy(reference: FloatArray, counts: FloatArray) -> FloatArray:
    """sum (q - p~)^2 / p~ with p~ the smoothed reference: the chi-square statistic over n."""
    smoothing = st.DEFAULT_CHI2_SMOOTHING
    total = reference.sum(axis=-1, keepdims=True)
    expected = (reference + smoothing) / (total + smoothing * reference.shape[-1])
    q = st.proportions(counts)
    result: FloatArray = np.sum((q - expected) ** 2 / expected, axis=-1)
    return result


@dataclass(frozen=True)
class NullTable:
    """Fitted (1 - alpha) null quantiles of one statistic, scaled by n^power, over log n."""

    log_n: FloatArray
    scaled: FloatArray
    power: float
    reference_rows: int

    def quantile(self, n: int) -> float:
        """The statistic's (1 - alpha) quantile with no drift at n window rows."""
        rows = self.reference_rows
        n_eff = n * rows / (n + rows) if rows > 0 else float(n)
        if n_eff <= 0:
            return math.inf
        scaled = float(np.interp(math.log(n_eff), self.log_n, self.scaled))
        return float(scaled / n_eff**self.power)


def null_tables(
    bases: Mapping[str, Basis],
    method: str,
    alpha: float = DEFAULT_FALSE_ALARM_RATE,
    replicates: int = DEFAULT_REPLICATES,
    grid: Sequence[int] = DEFAULT_GRID,
) -> dict[str, NullTable]:
    """A null table per column for one method; columns with equal slot shares share draws."""
    statistic = DISCREPANCY.get(method, method)
    power = 1.0 if statistic in QUADRATIC else 0.5
    shared: dict[bytes, list[npt.NDArray[np.int64]]] = {}
    by_shares: dict[bytes, NullTable] = {}
    tables = {}
    for name, basis in bases.items():
        p = basis.proportions
        key = p.tobytes()
        if key not in shared:
            rng = np.random.default_rng(DEFAULT_SEED)
            shares = _with_tails(basis)
            size = FEW_SLOT_REPLICATES if shares.size <= FEW_SLOTS else replicates
            shared[key] = [rng.multinomial(n, shares, size=size) for n in grid]
        if statistic != "wasserstein" and key in by_shares:
            # Statistics of slot shares alone have one null for every column with these shares.
            tables[name] = replace(by_shares[key], reference_rows=basis.rows)
            continue
        scaled = [
            _scaled_quantile(basis, statistic, counts, n, power, alpha)
            for n, counts in zip(grid, shared[key], strict=True)
        ]
        log_n = np.log(np.asarray(grid, dtype=np.float64))
        tables[name] = by_shares[key] = NullTable(log_n, np.asarray(scaled), power, basis.rows)
    return tables


def _scaled_quantile(
    basis: Basis,
    statistic: str,
    counts: npt.NDArray[np.int64],
    n: int,
    power: float,
    alpha: float,
) -> float:
    """The fitted (1 - alpha) quantile of one statistic over simulated windows, times n^power."""
    wins = counts.astype(np.float64)
    sums = None
    if statistic == "wasserstein":
        rng = np.random.default_rng(DEFAULT_SEED + n)
        noise = rng.standard_normal(wins.shape) * np.sqrt(wins) * _spread(basis)
        sums = wins * _means(basis) + noise
        # Values beyond the reference's extremes: edge -/+ a gamma sum of exponential excesses
        # whose scale is the width of the outermost bin.
        widths = np.diff(basis.edges)
        for slot, edge, sign, width in ((0, 0, -1.0, widths[0]), (-1, -1, 1.0, widths[-1])):
            tail = wins[:, slot]
            excess = rng.gamma(np.maximum(tail, 1e-12), width) * (tail > 0)
            sums[:, slot] = tail * basis.edges[edge] + sign * excess
    values = discrepancies(basis, wins, sums, [statistic])[statistic]
    if wins.shape[-1] <= FEW_SLOTS:
        # Empirical at alpha / 2 too: 20,000 windows leave 10 above the quantile.
        return float(np.quantile(values, 1.0 - alpha / 2.0) * n**power)
    # Fitted at alpha / 2: the fit's tail probability errs by up to ~2x at 50-100 rows.
    return float(lognormal_quantile(values, alpha / 2.0) * n**power)


def lognormal_quantile(values: FloatArray, alpha: float) -> float:
    """(1 - alpha) quantile of positive values: the larger of two log-normal extrapolations.

    One fits the mean and std of the logs; the other the line through the empirical 0.9 and
    0.99 quantiles of the logs against normal scores, which follows a heavier upper tail (the
    Wasserstein distance of log-normal or Student-t data at 16-64 rows, where the first alone
    came out 20-30% low). Against 40,000 simulated windows (bench/verdicts_bench.py) the larger
    one at alpha = 0.0005 left at most 0.12% of windows above it, at 16 to 256 rows.
    """
    positive = values[values > 0]
    if positive.size < 10:
        return float(values.max()) if values.size else 0.0
    logs = np.log(positive)
    # Zeros (identical windows) are a point mass below every positive value: shrink the tail.
    tail = alpha * values.size / positive.size
    if tail >= 1.0:
        return 0.0
    normal = NormalDist()
    z = normal.inv_cdf(1.0 - tail)
    moments = float(logs.mean()) + z * float(logs.std())
    low, high = (float(q) for q in np.quantile(logs, [0.9, 0.99]))
    z_low, z_high = normal.inv_cdf(0.9), normal.inv_cdf(0.99)
    extrapolated = high + (high - low) / (z_high - z_low) * (z - z_high)
    return float(math.exp(max(moments, extrapolated)))


def _with_tails(basis: Basis) -> FloatArray:
    """Slot shares with 1 / (N + 1) beyond each reference extreme for a numeric column.

    A new value falls below the minimum (or above the maximum) of N reference values with
    probability 1 / (N + 1); the reference's own under/overflow slots are empty.
    """
    p = basis.proportions
    if basis.kind != "numeric" or basis.rows <= 0:
        shares: FloatArray = p / p.sum()
        return shares
    tail = 1.0 / (basis.rows + 1)
    shares = p * (1.0 - 2.0 * tail)
    shares[0] += tail
    shares[-1] += tail
    result: FloatArray = shares / shares.sum()
    return result


def _means(basis: Basis) -> FloatArray:
    """Reference mean of each slot (0 for empty slots)."""
    return np.divide(
        basis.sums, basis.counts, out=np.zeros_like(basis.sums), where=basis.counts > 0
    )


def _spread(basis: Basis) -> FloatArray:
    """Per-slot value std if values were uniform within the bin (0 for the open tails)."""
    widths = np.diff(basis.edges) / math.sqrt(12.0)
    return np.concatenate(([0.0], widths, [0.0]))


class Calibration:
    """Null tables per reference column and method, computed once and cached (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tables: dict[tuple[int, str, float], tuple[weakref.ref[Basis], NullTable]] = {}
        self._pending: dict[tuple[int, str, float], threading.Event] = {}
        """Tables some thread is simulating now, set when they are cached (or it failed)."""

    def tables(self, bases: Mapping[str, tuple[Basis, str]], alpha: float) -> dict[str, NullTable]:
        """The null table of each column's (basis, method), simulating the missing ones.

        The lock guards the cache only: simulation runs outside it, so a report needing cached
        tables never waits behind a long calibration. A table another thread is simulating is
        waited for, not simulated twice.
        """
        found: dict[str, NullTable] = {}
        mine: dict[str, dict[str, Basis]] = {}
        claimed: list[tuple[int, str, float]] = []
        theirs: list[tuple[str, Basis, str, threading.Event]] = []
        with self._lock:
            for name, (basis, method) in bases.items():
                key = (id(basis), method, alpha)
                cached = self._tables.get(key)
                if cached is not None and cached[0]() is basis:
                    found[name] = cached[1]
                elif key in self._pending:
                    theirs.append((name, basis, method, self._pending[key]))
                else:
                    self._pending[key] = threading.Event()
                    claimed.append(key)
                    mine.setdefault(method, {})[name] = basis
        try:
            for method, group in mine.items():
                simulated = null_tables(group, method, alpha)
                with self._lock:
                    for name, table in simulated.items():
                        key = (id(group[name]), method, alpha)
                        self._tables[key] = (weakref.ref(group[name], self._forget(key)), table)
                        found[name] = table
        finally:
            with self._lock:
                for key in claimed:
                    self._pending.pop(key).set()
        for name, basis, method, event in theirs:
            event.wait()
            # Cached now, or simulated here if the other thread failed.
            found[name] = self.tables({name: (basis, method)}, alpha)[name]
        return found

    def _forget(self, key: tuple[int, str, float]) -> Callable[[object], None]:
        def drop(_: object) -> None:
            self._tables.pop(key, None)

        return drop


CALIBRATION = Calibration()
"""The process-wide cache of null tables."""


class _Bases:
    """Bases cached per reference column profile (dropped with the profile)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, bool], tuple[weakref.ref[ColumnProfile], Basis]] = {}

    def get(self, profile: ColumnProfile, other: bool = False) -> Basis:
        """The profile's basis; for a categorical one, with an "other" slot if `other`."""
        key = (id(profile), other)
        cached = self._cache.get(key)
        if cached is not None and cached[0]() is profile:
            return cached[1]
        if profile.kind == "numeric":
            basis = numeric_basis(profile)
        else:
            counts = [float(count) for _, count in profile.categories]
            slots = [*counts, float(profile.other)] if other else counts
            basis = categorical_basis(slots, profile.count)
        self._cache[key] = (weakref.ref(profile, lambda _: self._cache.pop(key, None)), basis)
        return basis


BASES = _Bases()
"""The process-wide cache of column bases."""
