"""The admin page's cost: gather + render time and page size, history sample time and size.

A monitor with a reference of `FEATURES` numeric features sees `ROWS` rows, all drifted, in one
window; the history holds a full ring of 288 summaries (the page's worst case: 60 cards, each
with a 288-point drift line). Prints the median over `REPEATS` of gathering the page data,
rendering it, and summarising one window, plus the page's size (plain and gzip, as served to a
browser) and the history's JSON size. Run: `python bench/page_bench.py`.
"""

from __future__ import annotations

import gzip
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from sidecar.analysis import AnalysisWorker, BudgetController
from sidecar.capture import Capture, Sampler, SamplingPolicy
from sidecar.history import History
from sidecar.monitor import Monitor, MonitorOptions
from sidecar.page import PageSources, page_data, render_page
from sidecar.page.routes import COMPRESS_LEVEL
from sidecar.recorder import HistoryRecorder
from sidecar.records import Captured
from sidecar.reference.builder import ProfileBuilder
from sidecar.signals.status import StatusSources
from sidecar.signals.traffic import RequestStats

FEATURES = 100
ROWS = 2_000
REPEATS = 7
WINDOW = 300.0
NOW = 1_800_000_000.0 - 1_800_000_000.0 % WINDOW


def _sources() -> StatusSources:
    rng = np.random.default_rng(1)
    names = [f"f{i:03d}" for i in range(FEATURES)]
    builder = ProfileBuilder(max_rows=5_000)
    builder.add_live({n: rng.normal(0, 1, 5_000).tolist() for n in names}, {}, 5_000)
    monitor = Monitor(MonitorOptions(window_seconds=int(WINDOW)), reference=builder.build())
    batch = []
    for i in range(ROWS // 10):
        rows = [{n: float(v) for n, v in zip(names, rng.normal(0.3, 1, FEATURES), strict=True)}]
        batch.append(
            Captured(
                f"r{i}",
                "POST",
                "/v1/models/m:predict",
                "",
                200,
                (("content-type", "application/json"),),
                json.dumps({"instances": rows * 10}).encode(),
                json.dumps({"predictions": [i % 2] * 10}).encode(),
                NOW + 1,
                0.01,
            )
        )
    monitor.ingest(batch, NOW + 1)
    stats = RequestStats([0.005, 0.01, 0.05, 0.1, 0.5])
    capture = Capture(Sampler(SamplingPolicy()))
    worker = AnalysisWorker(capture, monitor.ingest, BudgetController(1.0, 1.0))
    return StatusSources(monitor, stats, capture, worker, 1.0)


def _median_ms(work: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    """Print the figures."""
    sources = _sources()
    history = History()
    recorder = HistoryRecorder(sources, history, WINDOW)
    summary = recorder.summarise("m", NOW + WINDOW + 0.5)
    assert summary is not None
    for i in range(history.capacity):
        start = NOW - (history.capacity - i) * WINDOW
        history.record("m", replace(summary, start=start, end=start + WINDOW))
    page = PageSources(sources, history, WINDOW)
    data = page_data(page, None, "previous", NOW + WINDOW + 1)
    html = render_page(data, "nonce", 60)
    size = len(json.dumps(history.to_dict()))
    print(f"{FEATURES} features, {ROWS} rows, history of {history.capacity} summaries")
    later = NOW + WINDOW + 1
    gather = _median_ms(lambda: page_data(page, None, "previous", later))
    render = _median_ms(lambda: render_page(data, "nonce", 60))
    sample = _median_ms(lambda: recorder.summarise("m", later))
    print(f"gather page data:   {gather:7.1f} ms")
    print(f"render page:        {render:7.1f} ms")
    print(f"sample one window:  {sample:7.1f} ms")
    packed = len(gzip.compress(html.encode(), COMPRESS_LEVEL))
    print(
        f"page size:          {len(html.encode()) / 1024:7.1f} KiB ({packed / 1024:.1f} KiB gzip)"
    )
    each = size / history.capacity / 1024
    print(f"history JSON:       {size / 1024:7.1f} KiB ({each:.1f} KiB a summary)")


if __name__ == "__main__":
    main()
