"""One model's kept state in the monitor, and the copies the monitor hands out.

`ModelState` holds a model's windows (drift and quality sketches), outcome windows, prediction
store, payload-error counts and drift latch; `sidecar.monitor.Monitor` creates one per model
(at most `MonitorOptions.max_models`) and touches it only under its lock. `ModelView` and
`MonitorCounters` are the frozen copies its read methods return.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sidecar.decoders import DecodeOptions
from sidecar.outcomes.feedback import FeedbackResult
from sidecar.outcomes.predictions import PredictionStore
from sidecar.outcomes.windows import OutcomeSnapshot, OutcomeWindows
from sidecar.policies import Policies
from sidecar.reference.profile import ReferenceProfile
from sidecar.signals.hysteresis import Latch
from sidecar.windows import WindowState, WindowStore

DEFAULT_MAX_MODELS = 16
OTHER_MODEL = "other"


@dataclass
class MonitorOptions:
    """How the monitor decodes, groups and windows what it sees."""

    protocol: str | None = None
    model: str | None = None
    decode: DecodeOptions = field(default_factory=DecodeOptions)
    max_models: int = DEFAULT_MAX_MODELS
    window_seconds: float = 300.0
    rolling_windows: int = 12
    max_columns: int = 256
    policies: Policies = field(default_factory=Policies)
    calibrate: bool = False
    """Simulate the drift null tables in a daemon thread whenever the reference is set (at
    construction too), so no report pays for them; off for tests that build many monitors."""


class ModelState:
    """Everything kept for one model."""

    def __init__(self, options: MonitorOptions, reference: ReferenceProfile | None) -> None:
        policies = options.policies
        self.windows = WindowStore(
            reference, options.window_seconds, options.rolling_windows, options.max_columns
        )
        extra: dict[str, Any] = {}
        if policies.min_group_size is not None:
            extra["min_group_size"] = policies.min_group_size
        if policies.max_groups is not None:
            extra["max_groups"] = policies.max_groups
        self.outcomes = OutcomeWindows(
            options.window_seconds,
            options.rolling_windows,
            policies.task,
            policies.threshold,
            policies.favourable,
            [a.label for a in policies.attributes],
            low_confidence=policies.low_confidence,
            min_count=policies.min_count,
            scores=policies.scores,
            buckets=self.windows.buckets,
            **extra,
        )
        self.outcomes.set_reference(None if reference is None else reference.outcomes)
        self.predictions = PredictionStore(policies.max_entries, policies.ttl_seconds)
        self.payload_errors: Counter[float] = Counter()
        """Undecodable payloads per bucket start (kept buckets only)."""
        self.requests = 0
        self.rows = 0
        clear_after = policies.status.clear_after_seconds
        self.latch = Latch(options.window_seconds if clear_after is None else clear_after)

    def count_payload_error(self, now: float) -> None:
        """One undecodable payload at `now`; counts older than the rolling view are dropped."""
        windows = self.windows
        self.payload_errors[windows.bucket_start(now)] += 1
        oldest = windows.span("rolling", now)[0] - windows.window_seconds
        for start in [s for s in self.payload_errors if s < oldest]:
            del self.payload_errors[start]

    def errors_in(self, which: str, now: float) -> int:
        """Undecodable payloads counted in the buckets of the view `which` at `now`."""
        first, last = self.windows.bucket_range(which, now)
        width = self.windows.bucket_seconds
        return sum(n for at, n in self.payload_errors.items() if first <= round(at / width) <= last)


@dataclass(frozen=True)
class ModelView:
    """One model's window, outcomes and counters, copied at one moment under the lock."""

    model: str
    snapshot: WindowState
    payload_errors: int
    reference: ReferenceProfile | None
    outcome: OutcomeSnapshot
    latch: Latch
    at: float
    which: str = "current"


@dataclass(frozen=True)
class MonitorCounters:
    """Process-wide counters copied at one moment.

    `models` pairs each model name with the opaque key its exporter state is filed under.
    """

    models: tuple[tuple[str, object], ...]
    busiest: str | None
    requests: dict[str, int]
    rows: dict[str, int]
    decode_errors: dict[tuple[str, str], int]
    analysed: int
    feedback: FeedbackResult
    prediction_entries: int
    evictions: dict[str, int]
