"""The analysis worker: drains captured pairs in batches off the event loop, within a CPU budget.

One daemon thread takes up to `BATCH` pairs at a time from the capture queue and hands them to a
sink (the monitor). It measures its own CPU time (`time.thread_time`) and, once a second, the
`BudgetController` lowers the sampler's effective rate when analysis used more than its share of
one core (default 25%; 7.5% while the whole process is CPU-bound, since the analysis thread and
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

LINGER = 0.05
"""After a batch smaller than `BATCH`, wait this long so the next one is bigger: sketch updates
cost ~0.6 ms per single-row batch and ~0.005 ms per row in batches of 200."""

MIN_RATE = 0.001
"""The budget never lowers sampling below one request in a thousand."""

SATURATED = 0.85
"""Process CPU (all threads, in cores) from which the proxy is taken to be CPU-bound."""

SATURATED_FACTOR = 0.3
"""Share of the budget analysis keeps while the process is CPU-bound: the event loop and the
analysis thread share one GIL, so every analysis cycle then comes out of proxied throughput
(25% -> 7.5% of a core at the defaults)."""


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
        self._thread = threading.Thread(target=self._loop, name="sidecar-analysis", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the batch in hand."""
        self._stop.set()
        self._thread.join(timeout)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until the queue is empty and the worker has nothing in hand (for tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.capture.queue and self._idle.is_set():
                return True
            time.sleep(0.01)
        return False

    def _loop(self) -> None:
        window_start = time.monotonic()
        process_start = time.process_time()
        cpu = 0.0
        while not self._stop.is_set():
            self._idle.set()
            batch = self.capture.drain(BATCH, timeout=0.1)
            if batch:
                self._idle.clear()
                started = time.thread_time()
                try:
                    self.sink(batch, self.clock())
                except Exception:  # monitoring never fails traffic, nor itself
                    self.failures += 1
                    log.exception("analysis of %d captured pairs failed", len(batch))
                cpu += time.thread_time() - started
                if len(batch) < BATCH:
                    self._stop.wait(LINGER)
            elapsed = time.monotonic() - window_start
            if elapsed >= ADJUST_EVERY:
                self.cpu_share = cpu / elapsed
                sampler = self.capture.sampler
                process = time.process_time() - process_start
                sampler.effective_rate = self.budget.adjust(
                    cpu, elapsed, sampler.effective_rate, process
                )
                window_start, process_start, cpu = time.monotonic(), time.process_time(), 0.0
