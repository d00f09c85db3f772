"""Drift benchmark: update throughput, sketch memory and drift-report time; prints figures.

Run: python bench/drift_bench.py [--rows 250000] [--features 20]
Targets: >= 5 million feature values/s on one core; <= 4 KiB per numeric feature per window;
bounded categorical memory after 10^6 distinct strings; a 100-feature drift report <= 10 ms
(median; the null tables are simulated once per reference, by the first, untimed report).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from datasets import sample

from sidecar.drift import drift_report
from sidecar.reference.builder import ProfileBuilder
from sidecar.reference.profile import ReferenceProfile
from sidecar.sketches import CategoricalColumnSketch, split_column
from sidecar.windows import WindowStore

NOW = 1_700_000_100.0


def _reference(features: int, rows: int = 20_000) -> ReferenceProfile:
    """A reference over `features` numeric columns."""
    builder = ProfileBuilder()
    builder.add({f"f{i}": sample("normal", rows, seed=i) for i in range(features)})
    return builder.build()


def bench_update(rows: int, features: int, batch: int) -> float:
    """Feature values per second through WindowStore.observe (decoded lists of floats)."""
    store = WindowStore(_reference(features))
    columns = {f"f{i}": sample("normal", rows, 0.2, seed=100 + i).tolist() for i in range(features)}
    batches = [
        ({name: values[start : start + batch] for name, values in columns.items()}, start)
        for start in range(0, rows, batch)
    ]
    started = time.process_time()
    for chunk, _ in batches:
        store.observe(chunk, {}, len(chunk["f0"]), now=NOW)
    elapsed = time.process_time() - started
    return rows * features / elapsed


def bench_memory() -> tuple[int, int]:
    """Bytes of one numeric window sketch, and of a categorical one after 10^6 distinct strings."""
    store = WindowStore(_reference(1, 100_000))
    store.observe({"f0": sample("heavy_tailed", 100_000, 1.0).tolist()}, {}, 100_000, now=NOW)
    numeric = store.snapshot("current", NOW).features["f0"].nbytes
    sketch = CategoricalColumnSketch(tuple(f"c{i}" for i in range(100)))
    for start in range(0, 1_000_000, 100_000):
        sketch.update(split_column([f"value-{i}" for i in range(start, start + 100_000)]))
    return numeric, sketch.nbytes


def bench_report(features: int, repeat: int = 50) -> float:
    """Milliseconds to snapshot and compute a full drift report for `features` columns."""
    reference = _reference(features, 5_000)
    store = WindowStore(reference)
    store.observe(
        {f"f{i}": sample("normal", 2_000, 0.1, seed=i).tolist() for i in range(features)},
        {},
        2_000,
        now=NOW,
    )
    drift_report(reference, store.snapshot("current", NOW))  # simulates the null tables once
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        drift_report(reference, store.snapshot("current", NOW)).to_json("bench")
        timings.append(time.perf_counter() - started)
    return float(np.median(timings)) * 1000


def main() -> None:
    """Run every benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=250_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--batch", type=int, default=10_000, help="rows per observe() call")
    args = parser.parse_args()
    rate = bench_update(args.rows, args.features, args.batch)
    print(f"update throughput: {rate / 1e6:.1f} million feature values/s on one core "
          f"({args.rows:,} rows x {args.features} features, {args.batch:,} rows per batch; "
          "target >= 5)")  # fmt: skip
    numeric, categorical = bench_memory()
    print(f"memory per numeric feature per window: {numeric:,} bytes (target <= 4,096)")
    print(f"categorical sketch after 10^6 distinct strings: {categorical:,} bytes (bounded)")
    print(f"drift report, 100 features: {bench_report(100):.2f} ms median (target <= 10)")


if __name__ == "__main__":
    main()
