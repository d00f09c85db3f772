"""Sampling decisions, body teeing bounds, the bounded queue, batching and the CPU budget."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Sequence

import pytest

from sidecar.analysis import BATCH, MIN_RATE, AnalysisWorker, BudgetController
from sidecar.capture import MAX_MARKS, Capture, Sampler, SamplingPolicy
from sidecar.records import Captured


def _scope(method: str = "POST", headers: list[tuple[bytes, bytes]] | None = None) -> dict:  # type: ignore[type-arg]
    return {
        "method": method,
        "path": "/v1/models/m:predict",
        "query_string": b"",
        "headers": headers or [(b"content-type", b"application/json")],
    }


class TestSampler:
    def test_rate_samples_about_that_share(self) -> None:
        """A 0.25 rate keeps about a quarter of 20,000 requests."""
        sampler = Sampler(SamplingPolicy(rate=0.25), rng=random.Random(7))
        kept = sum(sampler.decide(str(i), 0.0) is None for i in range(20_000))
        assert 4_700 < kept < 5_300

    def test_deterministic_mode_makes_replicas_agree(self) -> None:
        """Two samplers with hashing pick exactly the same request ids."""
        a = Sampler(SamplingPolicy(rate=0.3, deterministic=True), rng=random.Random(1))
        b = Sampler(SamplingPolicy(rate=0.3, deterministic=True), rng=random.Random(2))
        ids = [f"req-{i}" for i in range(5_000)]
        picks_a = [a.decide(i, 0.0) is None for i in ids]
        assert picks_a == [b.decide(i, 0.0) is None for i in ids]
        assert 1_300 < sum(picks_a) < 1_700

    def test_per_second_cap_limits_samples_in_each_second(self) -> None:
        """With a cap of 10/s, the 11th request of a second is refused as rate_cap."""
        sampler = Sampler(SamplingPolicy(rate=1.0, max_per_second=10))
        decisions = [sampler.decide(str(i), 100.2) for i in range(15)]
        assert decisions.count(None) == 10 and decisions.count("rate_cap") == 5
        assert sampler.decide("next", 101.0) is None

    def test_zero_rate_samples_nothing(self) -> None:
        """Rate 0 samples nothing."""
        sampler = Sampler(SamplingPolicy(rate=0.0))
        assert all(sampler.decide(str(i), 0.0) == "rate" for i in range(100))


class TestCapture:
    def test_gets_are_not_sampled(self) -> None:
        """Only requests that carry a payload (POST, PUT, PATCH) are considered."""
        capture = Capture(Sampler(SamplingPolicy()))
        assert capture.begin(_scope("GET"), "r", 0.0) is None
        assert capture.seen == 0

    def test_declared_large_body_is_not_teed(self) -> None:
        """A Content-Length over the limit is dropped as too_large before any copy."""
        capture = Capture(Sampler(SamplingPolicy()), max_bytes=100)
        tap = capture.begin(_scope(headers=[(b"content-length", b"101")]), "r", 0.0)
        assert tap is None and capture.dropped["too_large"] == 1

    def test_streamed_body_over_the_limit_stops_the_copy(self) -> None:
        """A body that grows past the limit while streaming is dropped as too_large."""
        capture = Capture(Sampler(SamplingPolicy()), max_bytes=100)
        tap = capture.begin(_scope(), "r", 0.0)
        assert tap is not None
        tap.request_chunk(b"x" * 60)
        tap.request_chunk(b"x" * 60)
        tap.response_start(200, [])
        tap.finish(200, 0.01, 0.005, complete=True)
        assert capture.dropped["too_large"] == 1 and not capture.queue

    def test_full_queue_drops_and_counts(self) -> None:
        """With room for two pairs, the third is dropped as queue_full."""
        capture = Capture(Sampler(SamplingPolicy()), queue_size=2)
        for i in range(3):
            tap = capture.begin(_scope(), str(i), float(i))
            assert tap is not None
            tap.request_chunk(b'{"instances": [[1]]}')
            tap.response_start(200, [(b"content-type", b"application/json")])
            tap.response_chunk(b'{"predictions": [1]}')
            tap.finish(200, 0.01, 0.005, complete=True)
        assert capture.dropped["queue_full"] == 1
        batch = capture.take(10)
        assert [p.request_id for p in batch] == ["0", "1"]
        assert batch[0].request_body == b'{"instances": [[1]]}'
        assert batch[0].response_content_type == "application/json"

    def test_failed_exchange_is_not_analysed(self) -> None:
        """An aborted or failed exchange is counted as incomplete, not queued."""
        capture = Capture(Sampler(SamplingPolicy()))
        tap = capture.begin(_scope(), "r", 0.0)
        assert tap is not None
        tap.finish(502, 0.01, None, complete=False)
        assert capture.dropped["incomplete"] == 1 and not capture.queue

    def test_streamed_answer_gets_bounded_arrival_marks(self) -> None:
        """Each SSE chunk is marked with the bytes so far and a rising time; past MAX_MARKS
        the latest chunk replaces the last mark."""
        capture = Capture(Sampler(SamplingPolicy()))
        tap = capture.begin(_scope(), "r", 0.0)
        assert tap is not None
        tap.response_start(200, [(b"content-type", b"text/event-stream")])
        for _ in range(MAX_MARKS + 10):
            tap.response_chunk(b"data: {}\n\n")
        tap.finish(200, 0.5, 0.01, complete=True)
        marks = capture.take(1)[0].marks
        assert len(marks) == MAX_MARKS
        assert [m[0] for m in marks[:3]] == [10, 20, 30]
        assert marks[-1][0] == 10 * (MAX_MARKS + 10)
        assert all(a[1] <= b[1] for a, b in itertools.pairwise(marks))

    def test_cut_stream_is_queued_as_incomplete(self) -> None:
        """A 2xx stream cut off mid-way counts as incomplete yet is queued, flagged, for the
        GenAI metrics; a JSON answer is not marked."""
        capture = Capture(Sampler(SamplingPolicy()))
        tap = capture.begin(_scope(), "r", 0.0)
        assert tap is not None
        tap.response_start(200, [(b"content-type", b"text/event-stream")])
        tap.response_chunk(b"data: {}\n\n")
        tap.finish(200, 0.5, 0.01, complete=False)
        assert capture.dropped["incomplete"] == 1
        assert [p.complete for p in capture.take(5)] == [False]
        closed = capture.begin(_scope(), "d", 0.0)
        assert closed is not None
        closed.response_start(200, [(b"content-type", b"text/event-stream")])
        closed.response_chunk(b"data: {}\n\ndata: [DONE]\n\n")
        closed.finish(200, 0.5, 0.01, complete=False)
        assert capture.dropped["incomplete"] == 1, "a client closing after [DONE] is complete"
        assert [p.complete for p in capture.take(5)] == [True]
        plain = capture.begin(_scope(), "j", 0.0)
        assert plain is not None
        plain.response_start(200, [(b"content-type", b"application/json")])
        plain.response_chunk(b"{}")
        plain.finish(200, 0.5, 0.01, complete=True)
        assert capture.take(1)[0].marks == ()


class TestBudget:
    def test_over_budget_lowers_the_rate(self) -> None:
        """Analysis at 50% of a core against a 25% budget roughly halves sampling."""
        budget = BudgetController(share=0.25, configured_rate=1.0)
        assert budget.adjust(0.5, 1.0, 1.0) == pytest.approx(0.45)

    def test_room_in_budget_raises_the_rate_back(self) -> None:
        """Well under budget, the rate climbs back towards the configured rate, never above."""
        budget = BudgetController(share=0.25, configured_rate=0.8)
        assert budget.adjust(0.05, 1.0, 0.4) == pytest.approx(0.5)
        assert budget.adjust(0.05, 1.0, 0.79) == pytest.approx(0.8)

    def test_rate_never_falls_below_the_floor(self) -> None:
        """However expensive analysis is, some traffic is still sampled."""
        budget = BudgetController(share=0.25, configured_rate=1.0)
        assert budget.adjust(100.0, 1.0, MIN_RATE) == MIN_RATE

    def test_a_cpu_bound_process_shrinks_the_budget(self) -> None:
        """With the whole process at 95% of a core, analysis keeps 5% of its budget."""
        budget = BudgetController(share=0.25, configured_rate=1.0)
        assert budget.adjust(0.2, 1.0, 1.0, process_seconds=0.5) == 1.0
        assert budget.adjust(0.2, 1.0, 1.0, process_seconds=0.95) == pytest.approx(
            0.9 * 0.0125 / 0.2
        )


def _pair(i: int) -> Captured:
    return Captured(str(i), "POST", "/v1/models/m:predict", "", 200, (), b"{}", b"{}", 0.0, 0.01)


class TestWorker:
    """The analysis thread hands the sink batches, not single pairs."""

    def _worker(self, capture: Capture) -> tuple[AnalysisWorker, list[int]]:
        sizes: list[int] = []

        def sink(batch: Sequence[Captured], now: float) -> None:
            sizes.append(len(batch))

        budget = BudgetController(share=1.0, configured_rate=1.0)
        return AnalysisWorker(capture, sink, budget), sizes

    @staticmethod
    def _until(condition: object, seconds: float = 5.0) -> None:
        deadline = time.monotonic() + seconds
        while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
            time.sleep(0.01)

    def test_a_trickle_is_gathered_into_one_batch(self) -> None:
        """Five queued pairs reach the sink in one call, after the gathering wait."""
        capture = Capture(Sampler(SamplingPolicy()))
        worker, sizes = self._worker(capture)
        for i in range(5):
            capture.submit(_pair(i))
        worker.start()
        try:
            self._until(lambda: sum(sizes) == 5)
        finally:
            worker.stop()
        assert sizes == [5]

    def test_a_full_batch_is_taken_at_once(self) -> None:
        """With more than BATCH pairs queued, the first call takes exactly BATCH."""
        capture = Capture(Sampler(SamplingPolicy()), queue_size=BATCH + 10)
        worker, sizes = self._worker(capture)
        for i in range(BATCH + 10):
            capture.submit(_pair(i))
        worker.start()
        try:
            self._until(lambda: sum(sizes) == BATCH + 10)
        finally:
            worker.stop()
        assert sizes == [BATCH, 10]

    def test_wait_idle_analyses_what_is_queued(self) -> None:
        """wait_idle returns once every queued pair went through the sink."""
        capture = Capture(Sampler(SamplingPolicy()))
        worker, sizes = self._worker(capture)
        worker.start()
        try:
            for i in range(3):
                capture.submit(_pair(i))
            assert worker.wait_idle(timeout=5.0)
            assert sum(sizes) == 3 and not capture.queue
        finally:
            worker.stop()

    def test_wait_idle_waits_for_exchanges_still_finishing(self) -> None:
        """A sampled exchange not yet finished keeps wait_idle waiting (its client may already
        hold the answer); once it finishes, its pair is analysed before wait_idle returns.
        Without `exchanges`, as at shutdown, only the queue counts."""
        capture = Capture(Sampler(SamplingPolicy()))
        worker, sizes = self._worker(capture)
        worker.start()
        try:
            tap = capture.begin(_scope(), "r1", 0.0)
            assert tap is not None and capture.open == 1
            assert not worker.wait_idle(timeout=0.2)
            assert worker.wait_idle(timeout=0.2, exchanges=False)
            tap.finish(200, 0.01, 0.005, complete=True)
            assert capture.open == 0
            assert worker.wait_idle(timeout=5.0) and sum(sizes) == 1
        finally:
            worker.stop()
