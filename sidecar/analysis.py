"""The analysis worker: drains captured pairs in batches off the event loop, within a CPU budget.

One daemon thread gathers captured pairs until `BATCH` are queued or the first has waited
`GATHER` seconds, then hands them to a sink (the monitor) in one call: a batch pays a fixed cost
(about 0.7 ms of sketch updates for 20 features) that tiny batches would pay per request. The
thread measures its own CPU time (`time.thread_time`) and, every `ADJUST_EVERY` seconds, the
`BudgetController` lowers the sampler's effective rate when analysis used more than its share of
one core (default 25%; 1.25% while the whole process is CPU-bound, since the analysis thread and
the event loop share one GIL), and raises it back towards the configured rate when there is
room. The effective rate is exported, so counts can be scaled back up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sidecar.capture import Capture
from sidecar.records import Captured

log = logging.getLogger("sidecar.analysis")

BATCH = 256
"""Most pairs analysed in one call of the sink."""

ADJUST_EVERY = 0.5
"""Seconds between budget adjustments."""

GATHER = 0.2
"""Longest a queued pair waits for its batch to fill: analysis of 20-feature requests costs
about 0.7 ms per pair in batches of 1, 0.1 ms in batches of 10 and 0.04 ms in batches of 250,
and windows span minutes. Shorter than `ADJUST_EVERY`, so every budget period that saw traffic
also saw analysis."""

POLL = 0.05
"""Seconds between looks at the queue while a batch gathers. Each look takes the GIL from a busy
event loop; at 5,000 sampled req/s a full `BATCH` gathers in about 50 ms."""

MIN_RATE = 0.001
"""The budget never lowers sampling below one request in a thousand."""

YIELD_EVERY = 0.0002
"""Seconds of analysis work between GIL hand-overs to the event loop (`GilPause`)."""

SATURATED = 0.85
"""Process CPU (all threads, in cores) from which the proxy is taken to be CPU-bound."""

SATURATED_FACTOR = 0.05
"""Share of the budget analysis keeps while the process is CPU-bound: the event loop and the
analysis thread share one GIL, so every analysis cycle then comes out of proxied throughput
(25% -> 1.25% of a core at the defaults). At 5,000 req/s and ~60 us per analysed request that
still samples 200 requests a second, 60,000 per 5-minute window: plenty for sketches, and the
effective rate is exported."""


class GilPause:
    """Hands the GIL to the event loop once `YIELD_EVERY` seconds of work have gone by.

    Called between units of analysis work (a 20-wide row decodes in ~25 us), so a proxied
    request waits about that long for analysis, not a switch interval. sleep(0) is what
    hands the GIL over, on one core and on many (os.sched_yield starves a waiter on another
    core: p50 26 ms); it costs ~25 us of CPU here, so it is paid a few times per millisecond of
    work rather than after every payload.
    """

    __slots__ = ("since",)

    def __init__(self) -> None:
        self.since = time.perf_counter()

    def __call__(self) -> None:
        if time.perf_counter() - self.since >= YIELD_EVERY:
            time.sleep(0)
            self.since = time.perf_counter()


@dataclass
class BudgetController:
    """Keeps analysis CPU under `share` of one core by scaling the sampling rate.

    While the whole process uses `SATURATED` of a core or more (the proxy is CPU-bound), the
    budget shrinks to `SATURATED_FACTOR * share`. A share of 1 (a whole core) disables it.
    """

    share: float
    configured_rate: float

    def adjust(
        self, cpu_seconds: float, wall_seconds: float, rate: float, process_seconds: float = 0.0
    ) -> float:
        """The next effective rate, given the analysis and whole-process CPU used over the last
        `wall_seconds`."""
        if wall_seconds <= 0 or self.configured_rate <= 0 or self.share >= 1.0:
            # A share of a whole core means no budget: sample at the configured rate.
            return rate
        used = cpu_seconds / wall_seconds
        budget = self.share
        if process_seconds / wall_seconds >= SATURATED:
            budget *= SATURATED_FACTOR
        if used > budget:
            # Cost scales with the sampled volume: aim a little under the budget.
            return max(MIN_RATE, rate * max(0.02, 0.9 * budget / used))
        if used < 0.7 * budget and rate < self.configured_rate:
            return min(self.configured_rate, rate * 1.25 if used > 0 else self.configured_rate)
        return rate


class AnalysisWorker:
    """The thread that feeds captured pairs to the sink, never raising out of it."""

    def __init__(
        self,
        capture: Capture,
        sink: Callable[[Sequence[Captured], float], None],
        budget: BudgetController,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.capture = capture
        self.sink = sink
        self.budget = budget
        self.clock = clock
        self.cpu_share = 0.0
        self.failures = 0
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._flush = threading.Event()
        self._period_start = time.monotonic()
        """Start of the current budget period (`ADJUST_EVERY` long)."""
        self._first_seen: float | None = None
        """When the oldest pair of the gathering batch was first seen queued."""
        self._thread = threading.Thread(target=self._loop, name="sidecar-analysis", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the batch in hand."""
        self._stop.set()
        self._thread.join(timeout)

    def wait_idle(self, timeout: float = 10.0, exchanges: bool = True) -> bool:
        """Analyse what is queued now, without gathering, and block until the queue is empty and
        the worker has nothing in hand (for tests and shutdown).

        With `exchanges`, also until every sampled exchange in flight has finished: a client
        can hold the whole answer a moment before the proxy hands the pair over, so a caller
        that just got its response would otherwise find the queue empty too early.
        """
        deadline = time.monotonic() + timeout
        capture = self.capture
        self._flush.set()
        try:
            while time.monotonic() < deadline:
                settled = not exchanges or capture.open <= 0
                if settled and not capture.queue and self._idle.is_set():
                    return True
                time.sleep(0.01)
            return False
        finally:
            self._flush.clear()

    def _gather(self) -> list[Captured]:
        """The next batch: once `BATCH` pairs wait, the first has waited `GATHER`, or on flush.

        Clears the idle flag before taking pairs off the queue, so `wait_idle` never sees an
        empty queue while a batch is in hand.
        """
        queue = self.capture.queue
        while not self._stop.is_set():
            if queue:
                now = time.monotonic()
                if self._first_seen is None:
                    self._first_seen = now
                if len(queue) >= BATCH or now - self._first_seen >= GATHER or self._flush.is_set():
                    self._idle.clear()
                    self._first_seen = None
                    return self.capture.take(BATCH)
            self._stop.wait(POLL)
            if time.monotonic() - self._period_start >= ADJUST_EVERY:
                return []
        return []

    def _loop(self) -> None:
        self._period_start = time.monotonic()
        process_start = time.process_time()
        cpu = 0.0
        while not self._stop.is_set():
            # Taking a batch builds its pairs (`Capture.take`): analysis work, so it counts.
            started = time.thread_time()
            batch = self._gather()
            if batch:
                try:
                    self.sink(batch, self.clock())
                except Exception:  # monitoring never fails traffic, nor itself
                    self.failures += 1
                    log.exception("analysis of %d captured pairs failed", len(batch))
            cpu += time.thread_time() - started
            self._idle.set()
            elapsed = time.monotonic() - self._period_start
            if elapsed >= ADJUST_EVERY:
                self.cpu_share = cpu / elapsed
                sampler = self.capture.sampler
                process = time.process_time() - process_start
                sampler.effective_rate = self.budget.adjust(
                    cpu, elapsed, sampler.effective_rate, process
                )
                self._period_start, process_start = time.monotonic(), time.process_time()
                cpu = 0.0
