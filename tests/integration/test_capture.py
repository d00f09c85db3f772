"""Capture under real traffic: every sampled pair accounted for, every response untouched."""

from __future__ import annotations

import asyncio
import hashlib
import json

import aiohttp
from servers import ThreadedUvicorn, running_sidecar

REQUESTS = 10_000


async def _send_all(url: str, count: int, concurrency: int = 32) -> list[tuple[int, bytes]]:
    # aiohttp as the load client: httpx's async client costs several times more CPU per request.
    results: list[tuple[int, bytes]] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as client:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(count):
            queue.put_nowait(i)

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                body = json.dumps({"instances": [[i, 1.0, 2.0], [i, 0.5, 0.25]]}).encode()
                async with client.post(
                    url + "/v1/models/iris:predict",
                    data=body,
                    headers={"content-type": "application/json"},
                ) as response:
                    results.append((i, await response.read()))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


def _expected(i: int) -> bytes:
    return json.dumps({"predictions": [i + 3.0, i + 0.75]}, separators=(",", ":")).encode()


class TestCaptureUnderLoad:
    def test_full_sampling_decodes_every_row_and_changes_no_byte(
        self, upstream: ThreadedUvicorn
    ) -> None:
        """10,000 requests at sampling 1.0: 20,000 rows decoded, every response unchanged."""
        # A whole core for analysis, so the CPU budget does not lower the sampling rate.
        with running_sidecar(upstream.url) as sc:
            results = asyncio.run(_send_all(sc.url, REQUESTS))
            assert sc.runtime.worker.wait_idle(30)
            capture, monitor = sc.runtime.capture, sc.runtime.monitor
            assert capture.seen == capture.sampled == REQUESTS
            dropped = sum(capture.dropped.values())
            assert monitor.counters().requests["iris"] == REQUESTS - dropped
            assert monitor.counters().rows["iris"] == 2 * (REQUESTS - dropped)
        assert len(results) == REQUESTS
        digest = {i: hashlib.sha256(body).hexdigest() for i, body in results}
        assert all(digest[i] == hashlib.sha256(_expected(i)).hexdigest() for i in digest)

    def test_tiny_queue_sheds_load_and_counts_every_drop(self, upstream: ThreadedUvicorn) -> None:
        """With a queue of one pair, what is not analysed is counted as queue_full, exactly."""
        with running_sidecar(upstream.url, queue_size=1) as sc:
            results = asyncio.run(_send_all(sc.url, 2_000))
            assert sc.runtime.worker.wait_idle(30)
            capture, monitor = sc.runtime.capture, sc.runtime.monitor
            analysed = monitor.counters().requests["iris"]
            assert capture.dropped["queue_full"] > 0
            assert analysed + capture.dropped["queue_full"] == capture.sampled == 2_000
        assert all(body == _expected(i) for i, body in results)
