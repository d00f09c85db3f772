"""The demo's traffic generator: seeded requests at a steady rate, a drift shift, delayed labels.

Requests go to the proxy at `rate` per second, each with its own `X-Request-ID`, half KServe v1
and half Open Inference Protocol v2 (`v2_share`); one in ten carries 2-4 rows. After
`shift_after` seconds the rows come from the shifted world (`sidecar.demo.model.generate`). The
true labels are posted to the admin `POST /api/v1/feedback` in one batch per second, once
`label_delay` seconds (default 3) have passed, as real ground truth arrives late.

Bounds: at most `max_in_flight` requests (default 32) are open at once; pending labels are at
most rate * (label_delay + 1) entries. A failed request or label post is counted, never raised.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

from sidecar.demo.model import MODEL_NAME, NUMERIC, Batch, DriftSchedule, generate

DEFAULT_RATE = 50.0
DEFAULT_SHIFT_AFTER = 30.0
DEFAULT_LABEL_DELAY = 3.0
DEFAULT_SEED = 11
DEFAULT_V2_SHARE = 0.5
DEFAULT_BATCH_SHARE = 0.1
DEFAULT_MAX_IN_FLIGHT = 32
FEEDBACK_PATH = "/api/v1/feedback"
REQUEST_TIMEOUT = 10.0


@dataclass(frozen=True)
class TrafficOptions:
    """Where to send, how fast, when to shift, and where labels go (None: no labels)."""

    target: str
    admin: str | None = None
    rate: float = DEFAULT_RATE
    shift_after: float | None = DEFAULT_SHIFT_AFTER
    label_delay: float = DEFAULT_LABEL_DELAY
    model: str = MODEL_NAME
    seed: int = DEFAULT_SEED
    v2_share: float = DEFAULT_V2_SHARE
    batch_share: float = DEFAULT_BATCH_SHARE
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise ValueError(f"rate={self.rate!r} must be > 0 requests per second")
        if not self.label_delay >= 0:
            raise ValueError(f"label_delay={self.label_delay!r} must be >= 0")
        for name in ("v2_share", "batch_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name}={getattr(self, name)!r} must be in [0, 1]")
        if self.max_in_flight < 1:
            raise ValueError(f"max_in_flight={self.max_in_flight!r} must be >= 1")
        DriftSchedule(self.shift_after)


@dataclass
class TrafficStats:
    """What was sent and how it went."""

    sent: int = 0
    ok: int = 0
    failed: int = 0
    rows: int = 0
    v2: int = 0
    labels_posted: int = 0
    label_posts_failed: int = 0
    shifted: bool = False
    statuses: dict[int, int] = field(default_factory=dict)

    def line(self) -> str:
        """A one-line summary."""
        return (
            f"sent={self.sent} ok={self.ok} failed={self.failed} rows={self.rows} v2={self.v2} "
            f"labels_posted={self.labels_posted} label_posts_failed={self.label_posts_failed} "
            f"shifted={'yes' if self.shifted else 'no'}"
        )


def v1_body(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A KServe v1 predict body of named-feature instances."""
    return {"instances": rows}


def v2_body(batch: Batch, request_id: str) -> dict[str, Any]:
    """An Open Inference Protocol body: one [N, 1] tensor per feature."""
    inputs = []
    for name, values in batch.columns.items():
        numeric = name in NUMERIC
        inputs.append(
            {
                "name": name,
                "shape": [len(batch), 1],
                "datatype": "FP64" if numeric else "BYTES",
                "data": values.tolist(),
            }
        )
    return {"id": request_id, "inputs": inputs}


class TrafficGenerator:
    """Sends seeded traffic until stopped; `elapsed()` and `shifted` tell where it is."""

    def __init__(self, options: TrafficOptions, clock: Callable[[], float] = time.monotonic):
        self.options = options
        self.schedule = DriftSchedule(options.shift_after)
        self.clock = clock
        self.stats = TrafficStats()
        self._rng = np.random.default_rng(options.seed)
        self._started: float | None = None
        self._labels: deque[tuple[float, dict[str, Any]]] = deque()
        self._slots = asyncio.Semaphore(options.max_in_flight)

    def elapsed(self) -> float:
        """Seconds since traffic started (0 before)."""
        return 0.0 if self._started is None else self.clock() - self._started

    @property
    def shifted(self) -> bool:
        """Whether traffic is now drawn from the shifted world."""
        return self.schedule.shifted(self.elapsed()) if self._started is not None else False

    async def run(self, stop: asyncio.Event) -> TrafficStats:
        """Send until `stop` is set; returns the counts."""
        self._started = self.clock()
        limits = httpx.Limits(max_connections=self.options.max_in_flight)
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT, limits=limits) as session:
            labels = asyncio.ensure_future(self._post_labels(session, stop))
            tasks: set[asyncio.Task[None]] = set()
            interval = 1.0 / self.options.rate
            next_at = self.clock()
            while not stop.is_set():
                await self._slots.acquire()
                task = asyncio.ensure_future(self._send(session))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                next_at = max(next_at + interval, self.clock() - 1.0)
                try:
                    await asyncio.wait_for(stop.wait(), max(0.0, next_at - self.clock()))
                except TimeoutError:
                    pass
            await asyncio.gather(*tasks, return_exceptions=True)
            await labels
        return self.stats

    def _next_request(self) -> tuple[str, str, dict[str, Any], Batch]:
        """The next request: id, path, body and its rows (with their true labels)."""
        shifted = self.shifted
        self.stats.shifted = shifted
        rows = int(self._rng.integers(2, 5)) if self._rng.random() < self.options.batch_share else 1
        batch = generate(self._rng, rows, shifted)
        request_id = f"demo-{self.options.seed}-{self.stats.sent:09d}"
        model = self.options.model
        if self._rng.random() < self.options.v2_share:
            self.stats.v2 += 1
            return request_id, f"/v2/models/{model}/infer", v2_body(batch, request_id), batch
        return request_id, f"/v1/models/{model}:predict", v1_body(batch.rows()), batch

    async def _send(self, session: httpx.AsyncClient) -> None:
        try:
            request_id, path, body, batch = self._next_request()
            self.stats.sent += 1
            self.stats.rows += len(batch)
            response = await session.post(
                self.options.target + path,
                content=json.dumps(body),
                headers={"content-type": "application/json", "x-request-id": request_id},
            )
            status = response.status_code
            self.stats.statuses[status] = self.stats.statuses.get(status, 0) + 1
            if status != 200:
                self.stats.failed += 1
                return
            self.stats.ok += 1
            labels = batch.labels.tolist()
            item = (
                {"request_id": request_id, "label": labels[0]}
                if len(labels) == 1
                else {"request_id": request_id, "labels": labels}
            )
            self._labels.append((self.clock() + self.options.label_delay, item))
        except (httpx.HTTPError, TimeoutError, OSError):
            self.stats.failed += 1
        finally:
            self._slots.release()

    async def _post_labels(self, session: httpx.AsyncClient, stop: asyncio.Event) -> None:
        """Once a second, post the labels whose delay has passed, in one call."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
            except TimeoutError:
                pass
            if self.options.admin is None:
                self._labels.clear()
                continue
            now, due = self.clock(), []
            while self._labels and self._labels[0][0] <= now:
                due.append(self._labels.popleft()[1])
            if due and not stop.is_set():
                await self._post(session, due)

    async def _post(self, session: httpx.AsyncClient, items: list[dict[str, Any]]) -> None:
        try:
            response = await session.post(f"{self.options.admin}{FEEDBACK_PATH}", json=items)
            ok = 200 <= response.status_code < 300
        except (httpx.HTTPError, TimeoutError, OSError):
            ok = False
        if ok:
            self.stats.labels_posted += len(items)
        else:
            self.stats.label_posts_failed += 1
