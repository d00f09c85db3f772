"""A monitor that saw drifted rows in one window, with the status sources around it (no sockets)."""

from __future__ import annotations

import json

import numpy as np

from sidecar.analysis import AnalysisWorker, BudgetController
from sidecar.capture import Capture, Sampler, SamplingPolicy
from sidecar.monitor import Monitor, MonitorOptions
from sidecar.records import Captured
from sidecar.reference.builder import ProfileBuilder
from sidecar.reference.profile import ReferenceProfile
from sidecar.signals.status import StatusSources
from sidecar.signals.traffic import RequestStats

WINDOW = 60.0
NOW = 1_699_999_980.0  # a multiple of WINDOW: a window boundary
ROWS = 400


def reference() -> ReferenceProfile:
    """2,000 rows of x0 ~ N(0, 1) and a colour, with a prediction column of classes 0 and 1."""
    rng = np.random.default_rng(3)
    colours = rng.choice(["red", "green", "blue"], 2_000, p=[0.5, 0.3, 0.2])
    builder = ProfileBuilder(max_rows=2_000)
    builder.add_live(
        {"x0": [float(v) for v in rng.normal(0, 1, 2_000)], "colour": [str(c) for c in colours]},
        {"prediction": [str(i % 2) for i in range(2_000)]},
        2_000,
    )
    return builder.build()


def shifted_values(shift: float) -> np.ndarray:
    """The x0 values `drifted_sources(shift)` sends."""
    return np.random.default_rng(9).normal(shift, 1, ROWS)


def _colour(i: int) -> str:
    """Colours in the reference's proportions (5:3:2), so `colour` does not drift."""
    return "red" if i % 10 < 5 else "green" if i % 10 < 8 else "blue"


def _pair(i: int, x0: float, started: float) -> Captured:
    return Captured(
        request_id=f"r{i}",
        method="POST",
        path="/v1/models/m:predict",
        query="",
        status=200,
        request_headers=(("content-type", "application/json"),),
        request_body=json.dumps({"instances": [{"x0": x0, "colour": _colour(i)}]}).encode(),
        response_body=json.dumps({"predictions": [str(int(x0 > 0))]}).encode(),
        started=started,
        duration=0.01,
    )


def drifted_sources(shift: float) -> StatusSources:
    """A monitor of model `m` that saw 400 rows of x0 ~ N(shift, 1) in [NOW, NOW + WINDOW)."""
    monitor = Monitor(MonitorOptions(window_seconds=int(WINDOW)), reference=reference())
    batch = [_pair(i, float(v), NOW + 1) for i, v in enumerate(shifted_values(shift))]
    monitor.ingest(batch, NOW + 1)
    stats = RequestStats([0.005, 0.01, 0.05, 0.1])
    for i in range(50):
        stats.record(NOW + WINDOW - 5, 500 if i < 5 else 200, 0.003 if i % 2 else 0.03, False)
    capture = Capture(Sampler(SamplingPolicy()))
    worker = AnalysisWorker(capture, monitor.ingest, BudgetController(1.0, 1.0))
    return StatusSources(monitor, stats, capture, worker, 1.0)
