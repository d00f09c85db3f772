"""In-memory sources for the export, report and status tests: a monitor fed real KServe v1 pairs."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import numpy as np

from sidecar.analysis import AnalysisWorker, BudgetController
from sidecar.capture import Capture, Sampler, SamplingPolicy
from sidecar.monitor import ColumnObserver, Monitor, MonitorOptions
from sidecar.records import Captured
from sidecar.reference.builder import ProfileBuilder
from sidecar.reference.profile import ReferenceProfile
from sidecar.signals.status import StatusSources
from sidecar.signals.traffic import RequestStats

NOW = 1_700_000_100.0
MODEL_PATH = "/v1/models/m:predict"


def reference(rows: int = 5_000, seed: int = 0) -> ReferenceProfile:
    """A reference of two standard-normal features and a binary prediction."""
    rng = np.random.default_rng(seed)
    builder = ProfileBuilder(max_rows=rows)
    builder.add_live(
        {
            "x0": [float(v) for v in rng.normal(0, 1, rows)],
            "x1": list(map(float, rng.normal(0, 1, rows))),
        },
        {"prediction": [float(i % 2) for i in range(rows)]},
        rows,
    )
    return builder.build()


def pair(
    request_id: str,
    rows: Sequence[Mapping[str, object]],
    predictions: Sequence[object],
    started: float = NOW,
    path: str = MODEL_PATH,
) -> Captured:
    """A sampled KServe v1 request/response pair."""
    return Captured(
        request_id=request_id,
        method="POST",
        path=path,
        query="",
        status=200,
        request_headers=(("content-type", "application/json"),),
        request_body=json.dumps({"instances": list(rows)}).encode(),
        response_body=json.dumps({"predictions": list(predictions)}).encode(),
        started=started,
        duration=0.01,
    )


def traffic(
    monitor: Monitor, requests: int, shift: float = 0.0, seed: int = 1, now: float = NOW
) -> None:
    """`requests` pairs of 10 rows each; feature x0 shifted by `shift` standard deviations."""
    rng = np.random.default_rng(seed)
    batch = []
    for i in range(requests):
        x0 = rng.normal(shift, 1, 10)
        x1 = rng.normal(0, 1, 10)
        rows = [{"x0": float(a), "x1": float(b)} for a, b in zip(x0, x1, strict=True)]
        batch.append(pair(f"r{seed}-{i}", rows, [int(a > 0) for a in x0], now))
    monitor.ingest(batch, now)


def sources(monitor: Monitor) -> StatusSources:
    """The bundle the exporters and the status read, around `monitor`."""
    capture = Capture(Sampler(SamplingPolicy()))
    worker = AnalysisWorker(capture, monitor.ingest, BudgetController(0.25, 1.0))
    return StatusSources(monitor, RequestStats((0.1, 1.0)), capture, worker, 0.25)


def monitor(with_reference: bool = True, observers: Sequence[ColumnObserver] = ()) -> Monitor:
    """A monitor with 60-second windows, optionally with the reference above."""
    return Monitor(
        MonitorOptions(window_seconds=60),
        reference=reference() if with_reference else None,
        observers=observers,
    )
