"""Verdicts benchmark: false alarms, power and detection delay of the drift decision; no timings.

Run: python bench/verdicts_bench.py [--windows 2000] [--reference-rows 20000]

Each reference distribution is profiled from `--reference-rows` draws (as `sidecar profile`
does); windows of n rows are then drawn from the same population (no drift) or a shifted one,
binned on the profile's slots, and judged by `sidecar.drift.fires` against the null tables of
`sidecar.nulls`, exactly as a drift report judges a window (min_samples lowered to 50 so the
50-row cells have verdicts). Everything is vectorised over windows and seeded.

Bars: <= 0.2% false alarms per feature-window in every cell; power >= 0.9 for a 0.5 sd mean
shift at 1,000 rows; dataset drift <= 0.1% false alarms per window with 20 features.
Detection delay: a stream of windows sliding by a tenth of a window (one bucket); after the
shift, the number of buckets until the first alarm (10 = one whole window).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import numpy as np

from sidecar import nulls
from sidecar.drift import fires, required_drifted
from sidecar.drift_rules import CATEGORICAL_STATISTICS, NUMERIC_STATISTICS, DriftPolicy, DriftRule
from sidecar.reference.builder import ProfileBuilder
from sidecar.reference.profile import ColumnProfile
from sidecar.statistics import chi2_sf, ks_pvalue

SIZES = (50, 100, 300, 1_000, 10_000)
THRESHOLDS = {
    "psi": 0.2,
    "ks": 0.1,
    "ks_pvalue": 0.05,
    "js": 0.1,
    "wasserstein": 0.1,
    "hellinger": 0.1,
    "chi2_pvalue": 0.05,
}
"""Effect-size thresholds: the defaults (wasserstein, js), the usual PSI 0.2, and 0.1 / p 0.05."""
CATEGORY_LEVELS = 20
Sampler = Callable[[np.random.Generator, int, float, float], np.ndarray]


def _normal(rng: np.random.Generator, n: int, shift: float, scale: float) -> np.ndarray:
    return rng.normal(shift, scale, n)


def _lognormal(rng: np.random.Generator, n: int, shift: float, scale: float) -> np.ndarray:
    sd = np.sqrt((np.exp(0.64) - 1) * np.exp(0.64))  # std of lognormal(0, 0.8)
    return rng.lognormal(0.0, 0.8, n) * scale + shift * sd


def _student(rng: np.random.Generator, n: int, shift: float, scale: float) -> np.ndarray:
    return rng.standard_t(3, n) * scale + shift * np.sqrt(3.0)


def _bimodal(rng: np.random.Generator, n: int, shift: float, scale: float) -> np.ndarray:
    left = rng.random(n) < 0.5
    values = np.where(left, rng.normal(-2.0, 0.5, n), rng.normal(2.0, 0.7, n))
    return values * scale + shift * 2.1


def _integer(rng: np.random.Generator, n: int, shift: float, scale: float) -> np.ndarray:
    values = rng.poisson(4.0, n).astype(np.float64)
    return np.round(4.0 + (values - 4.0) * scale + shift * 2.0)


NUMERIC: dict[str, Sampler] = {
    "normal": _normal,
    "log-normal": _lognormal,
    "student-t3": _student,
    "bimodal": _bimodal,
    "integer": _integer,
}
"""Samplers(rng, n, mean shift in reference sds, scale factor); (0, 1) is the reference."""


def _category_shares(change: float = 0.0) -> np.ndarray:
    """Zipf-like shares of 20 categories; `change` moves that much share to category 5."""
    weights = 1.0 / np.arange(1, CATEGORY_LEVELS + 1) ** 0.8
    shares = weights / weights.sum()
    if change:
        shares = shares * (1.0 - change)
        shares[5] += change
    return shares


def _profile_shares(profile: ColumnProfile, change: float = 0.0) -> np.ndarray:
    """Category shares in the profile's slot order (its categories, then "other" if it has one)."""
    shares = _category_shares(change)
    ordered = [shares[int(name[1:])] for name in profile.category_names]
    if profile.other:
        ordered.append(1.0 - sum(ordered))
    return np.asarray(ordered) / np.sum(ordered)


def numeric_profile(name: str, rows: int, seed: int) -> ColumnProfile:
    """A reference profile of one numeric distribution."""
    builder = ProfileBuilder()
    builder.add({"x": NUMERIC[name](np.random.default_rng(seed), rows, 0.0, 1.0)})
    return builder.build().features["x"]


def categorical_profile(rows: int, seed: int) -> ColumnProfile:
    """A reference profile of the 20-category distribution."""
    rng = np.random.default_rng(seed)
    values = [f"c{i}" for i in rng.choice(CATEGORY_LEVELS, rows, p=_category_shares())]
    builder = ProfileBuilder()
    builder.add({"x": values})
    return builder.build().features["x"]


def numeric_windows(profile: ColumnProfile, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slot counts and sums of each row of `values` (windows x n) on the profile's bins."""
    edges = profile.edges_array
    slots = np.searchsorted(edges, values, side="right")
    slots[values == edges[-1]] = edges.size - 1
    k = edges.size + 1
    flat = slots + k * np.arange(values.shape[0])[:, None]
    counts = np.bincount(flat.ravel(), minlength=k * values.shape[0]).reshape(-1, k)
    sums = np.bincount(flat.ravel(), values.ravel(), k * values.shape[0]).reshape(-1, k)
    return counts.astype(np.float64), sums


def judge(
    profile: ColumnProfile,
    method: str,
    counts: np.ndarray,
    sums: np.ndarray | None,
    threshold: float,
) -> np.ndarray:
    """Verdicts of windows (rows of counts) of equal size n, as `drift_report` decides them."""
    basis = nulls.BASES.get(profile, profile.kind == "categorical" and profile.other > 0)
    n = int(counts[0].sum())
    table = nulls.CALIBRATION.tables({"x": (basis, method)}, nulls.DEFAULT_FALSE_ALARM_RATE)["x"]
    statistic = nulls.DISCREPANCY.get(method, method)
    discrepancy = nulls.discrepancies(basis, counts, sums, [statistic])[statistic]
    if method == "ks_pvalue":
        value = np.array([ks_pvalue(float(d), profile.count, n) for d in discrepancy])
    elif method == "chi2_pvalue":
        value = np.array([chi2_sf(n * float(h), counts.shape[1] - 1) for h in discrepancy])
    else:
        value = discrepancy
    result: np.ndarray = fires(DriftRule(method, threshold), value, discrepancy, table.quantile(n))
    return result


def draw(
    profile: ColumnProfile, name: str, n: int, windows: int, seed: int, shift: float, scale: float
) -> tuple[np.ndarray, np.ndarray | None]:
    """`windows` windows of n rows of a distribution (shift/scale; category change = shift)."""
    rng = np.random.default_rng(seed)
    if name == "categorical":
        shares = _profile_shares(profile, shift)
        return rng.multinomial(n, shares, size=windows).astype(np.float64), None
    values = NUMERIC[name](rng, n * windows, shift, scale).reshape(windows, n)
    return numeric_windows(profile, values)


def alarm_rate(
    profile: ColumnProfile, name: str, method: str, n: int, windows: int, shift: float = 0.0,
    scale: float = 1.0, threshold: float | None = None, seed: int = 1,
) -> float:  # fmt: skip
    """Share of windows judged drifted (false alarms when shift = 0 and scale = 1)."""
    chunk = max(1, min(windows, 2_000_000 // n))
    alarms = 0
    for start in range(0, windows, chunk):
        size = min(chunk, windows - start)
        counts, sums = draw(profile, name, n, size, seed + start, shift, scale)
        limit = THRESHOLDS[method] if threshold is None else threshold
        alarms += int(judge(profile, method, counts, sums, limit).sum())
    return alarms / windows


def delay(
    profile: ColumnProfile, name: str, method: str, n: int, streams: int, shift: float,
    scale: float = 1.0,
) -> float:  # fmt: skip
    """Median buckets (tenths of a window) after a change until the first alarm (inf: never)."""
    step = n // 10
    first = np.full(streams, np.inf)
    rng = np.random.default_rng(11)
    for k in range(1, 11):
        shifted = k * step
        if name == "categorical":
            old = rng.multinomial(n - shifted, _profile_shares(profile), size=streams)
            new = rng.multinomial(shifted, _profile_shares(profile, shift), size=streams)
            counts, sums = (old + new).astype(np.float64), None
        else:
            old_values = NUMERIC[name](rng, (n - shifted) * streams, 0.0, 1.0)
            new_values = NUMERIC[name](rng, shifted * streams, shift, scale)
            values = np.hstack([old_values.reshape(streams, -1), new_values.reshape(streams, -1)])
            counts, sums = numeric_windows(profile, values)
        hit = judge(profile, method, counts, sums, THRESHOLDS[method])
        first = np.where(np.isinf(first) & hit, k, first)
    return float(np.median(first))


def false_alarm_table(windows: int, rows: int) -> float:
    """Print false alarms per feature-window for every statistic, distribution and size."""
    worst = 0.0
    print(f"False alarms per feature-window, no drift ({windows:,} windows a cell, "
          f"reference {rows:,} rows; bar <= 0.2%); in brackets: significance alone "
          "(effect threshold 0)")  # fmt: skip
    print(f"{'reference':<12} {'statistic':<12} " + " ".join(f"{n:>15,}" for n in SIZES))
    for name in [*NUMERIC, "categorical"]:
        categorical = name == "categorical"
        profile = categorical_profile(rows, 3) if categorical else numeric_profile(name, rows, 3)
        methods = CATEGORICAL_STATISTICS if categorical else NUMERIC_STATISTICS
        alarms = {(m, n, bare): 0 for m in methods for n in SIZES for bare in (False, True)}
        for n in SIZES:
            chunk = max(1, min(windows, 2_000_000 // n))
            for start in range(0, windows, chunk):
                size = min(chunk, windows - start)
                # One draw of windows serves every statistic.
                counts, sums = draw(profile, name, n, size, 1 + start, 0.0, 1.0)
                for method in methods:
                    for bare in (False, True):
                        limit = _bare(method) if bare else THRESHOLDS[method]
                        hits = judge(profile, method, counts, sums, limit)
                        alarms[(method, n, bare)] += int(hits.sum())
        for method in methods:
            cells = []
            for n in SIZES:
                rate, bare = (alarms[(method, n, b)] / windows for b in (False, True))
                worst = max(worst, rate, bare)
                cells.append(f"{rate:6.2%} ({bare:5.2%})")
            print(f"{name:<12} {method:<12} " + " ".join(f"{c:>15}" for c in cells))
    return worst


def _bare(method: str) -> float:
    """The threshold that every value passes: only the null quantile decides."""
    return 1.0 if method.endswith("_pvalue") else 0.0


CHANGES = (("mean +0.25 sd", 0.25, 1.0), ("mean +0.5 sd", 0.5, 1.0), ("mean +1 sd", 1.0, 1.0),
           ("variance x1.5", 0.0, float(np.sqrt(1.5))))  # fmt: skip


def power_table(windows: int, rows: int) -> float:
    """Print power per change and size (default rules), and the median detection delay."""
    print("\nPower (share of drifted windows detected) and median detection delay in buckets "
          "(tenths of a window) at 1,000 rows")  # fmt: skip
    print(f"default rules (wasserstein 0.1, js 0.1); reference {rows:,} rows")
    print(f"{'reference':<12} {'change':<16} " + " ".join(f"{n:>8,}" for n in SIZES) + "   delay")
    power_half = 1.0
    for name in NUMERIC:
        profile = numeric_profile(name, rows, 3)
        for label, shift, scale in CHANGES:
            cells = [
                alarm_rate(profile, name, "wasserstein", n, windows, shift, scale) for n in SIZES
            ]
            if shift == 0.5:
                power_half = min(power_half, cells[SIZES.index(1_000)])
            late = delay(profile, name, "wasserstein", 1_000, min(windows, 500), shift, scale)
            print(f"{name:<12} {label:<16} " + " ".join(f"{c:8.1%}" for c in cells)
                  + f"   {late:5.1f}")  # fmt: skip
    profile = categorical_profile(rows, 3)
    cells = [alarm_rate(profile, "categorical", "js", n, windows, 0.1) for n in SIZES]
    late = delay(profile, "categorical", "js", 1_000, min(windows, 500), 0.1)
    print(f"{'categorical':<12} {'share +0.1':<16} " + " ".join(f"{c:8.1%}" for c in cells)
          + f"   {late:5.1f}")  # fmt: skip
    return power_half


def dataset_table(windows: int, rows: int) -> float:
    """Print dataset-drift false alarms per window with 20 independent normal features."""
    policy = DriftPolicy()
    print("\nDataset drift with 20 features, no drift (default rules; required drifted features "
          f"{required_drifted(20, policy)} of 20)")  # fmt: skip
    worst = 0.0
    profiles = [numeric_profile("normal", rows, 100 + i) for i in range(20)]
    for n in SIZES:
        drifted = np.zeros(windows, dtype=np.int64)
        for i, profile in enumerate(profiles):
            chunk = max(1, min(windows, 2_000_000 // n))
            hits = []
            for start in range(0, windows, chunk):
                size = min(chunk, windows - start)
                counts, sums = draw(profile, "normal", n, size, 1000 * i + start, 0.0, 1.0)
                hits.append(judge(profile, "wasserstein", counts, sums, THRESHOLDS["wasserstein"]))
            drifted += np.concatenate(hits)
        rate = float(np.mean(drifted >= required_drifted(20, policy)))
        worst = max(worst, rate)
        print(f"  {n:>6,} rows: dataset false alarms {rate:.3%}, feature alarms per window "
              f"{drifted.mean():.4f}")  # fmt: skip
    return worst


def main() -> int:
    """Print every table and whether each bar holds; 1 when one does not (`make bench`)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--windows", type=int, default=2_000)
    parser.add_argument("--reference-rows", type=int, default=20_000)
    args = parser.parse_args()
    worst = false_alarm_table(args.windows, args.reference_rows)
    power = power_table(min(args.windows, 1_000), args.reference_rows)
    dataset = dataset_table(args.windows, args.reference_rows)
    print(f"\nbars: worst false-alarm cell {worst:.2%} (<= 0.2%: {worst <= 0.002}); "
          f"power at 0.5 sd, 1,000 rows >= {power:.1%} (>= 90%: {power >= 0.9}); "
          f"dataset false alarms {dataset:.3%} (<= 0.1%: {dataset <= 0.001})")  # fmt: skip
    return 0 if worst <= 0.002 and power >= 0.9 and dataset <= 0.001 else 1


if __name__ == "__main__":
    sys.exit(main())
