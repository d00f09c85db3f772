"""Prediction store memory and speed: 3 million predictions stored and evicted under a bound.

Run: `python bench/outcomes_bench.py [--predictions N] [--max-entries M]`. Prints the store's own
byte estimate, the Python heap growth measured by tracemalloc on a sample, the process RSS
while the store is full and after eviction, and put / join / feedback throughput.
"""

from __future__ import annotations

import argparse
import gc
import resource
import time
import tracemalloc
import uuid

from sidecar.outcomes.feedback import apply_feedback, parse_feedback
from sidecar.outcomes.predictions import PredictionStore
from sidecar.outcomes.windows import OutcomeWindows


def _rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def _ids(n: int, offset: int = 0) -> list[str]:
    # Deterministic uuid-shaped ids (36 characters), like the request ids the proxy assigns.
    return [str(uuid.UUID(int=offset + i)) for i in range(n)]


def measure_entry_bytes(sample: int) -> None:
    """Heap bytes per one-row entry, by tracemalloc, against the store's estimate."""
    ids = _ids(sample)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    store = PredictionStore(max_entries=sample)
    for i, rid in enumerate(ids):
        store.put(rid, 300.0, ["1"], [(0.3, 0.7)], [("group-a",)], float(i))
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    # The ids were allocated before tracing; add their size so the figure is per whole entry.
    id_bytes = sum(rid.__sizeof__() for rid in ids)
    print(
        f"entry size ({sample:,} one-row entries, 2-class vector, 1 group): "
        f"tracemalloc {(used + id_bytes) / sample:.0f} B/entry, "
        f"store estimate {store.nbytes() / sample:.0f} B/entry"
    )


def fill_and_evict(total: int, max_entries: int, chunk: int = 100_000) -> None:
    """Put `total` predictions through a store bounded at `max_entries`; print memory."""
    store = PredictionStore(max_entries=max_entries)
    rss0 = _rss_mib()
    peak = rss0
    put_seconds = 0.0
    for lo in range(0, total, chunk):
        ids = _ids(chunk, lo)
        start = time.perf_counter()
        for i, rid in enumerate(ids):
            store.put(rid, 300.0, ["1"], [(0.3, 0.7)], [("group-a",)], float(lo + i) * 1e-3)
        put_seconds += time.perf_counter() - start
        peak = max(peak, _rss_mib())
    print(
        f"stored {total:,} predictions under max_entries={max_entries:,}: "
        f"held {len(store):,}, evicted {store.evictions}, "
        f"estimate {store.nbytes() / 2**20:.0f} MiB, "
        f"RSS growth {peak - rss0:.0f} MiB (peak {peak:.0f} MiB), "
        f"put {total / put_seconds:,.0f}/s"
    )
    held = _ids(max_entries, total - max_entries)
    start = time.perf_counter()
    for rid in held[:200_000]:
        store.join(rid, ["1"], float(total) * 1e-3)
    joined = min(200_000, len(held))
    print(f"join {joined / (time.perf_counter() - start):,.0f}/s")
    store.expire(float(total) * 1e-3 + store.ttl_seconds + 1)
    del store
    gc.collect()
    print(f"after TTL expiry and release: RSS {_rss_mib():.0f} MiB")


def feedback_throughput(n: int = 100_000) -> None:
    """Parse, join and score feedback in 10,000-item calls."""
    store = PredictionStore()
    outcomes = OutcomeWindows(task="classification", attributes=["group"])
    ids = _ids(n)
    for i, rid in enumerate(ids):
        start = outcomes.record_prediction(float(i) * 1e-3, [0.7], None, [("a",)])
        store.put(rid, start, [0.7], None, [("a",)], float(i) * 1e-3)
    bodies = [
        [{"request_id": rid, "label": 1} for rid in ids[lo : lo + 10_000]]
        for lo in range(0, n, 10_000)
    ]
    start_time = time.perf_counter()
    for body in bodies:
        parsed = parse_feedback(body)
        _, matched = apply_feedback(store, parsed.items, 200.0, parsed.invalid)
        outcomes.record_joins(matched)
    elapsed = time.perf_counter() - start_time
    print(f"feedback parse+join+score: {n / elapsed:,.0f} labels/s")


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--predictions", type=int, default=3_000_000)
    parser.add_argument("--max-entries", type=int, default=1_000_000)
    args = parser.parse_args()
    measure_entry_bytes(100_000)
    fill_and_evict(args.predictions, args.max_entries)
    feedback_throughput()


if __name__ == "__main__":
    main()
