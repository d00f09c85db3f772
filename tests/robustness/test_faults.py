"""Faults: the upstream dies and comes back, slow clients, many connections, random aborts."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from servers import SidecarHandle, ThreadedUvicorn, free_port, running_sidecar

TESTS = Path(__file__).parent.parent


def _rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


class _UpstreamProcess:
    """The test upstream in a child process, so that it can be killed outright."""

    def __init__(self, port: int) -> None:
        command = [sys.executable, "-m", "uvicorn", "--factory", "servers:upstream_app"]
        command += ["--app-dir", str(TESTS), "--port", str(port), "--log-level", "warning"]
        self.process = subprocess.Popen(command)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("upstream did not start")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


def _ready(handle: SidecarHandle, expected: int) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if httpx.get(handle.admin_url + "/readyz").status_code == expected:
            return True
        time.sleep(0.1)
    return False


class TestUpstreamKilled:
    def test_in_flight_fails_cleanly_later_requests_succeed_and_readyz_follows(self) -> None:
        """Killing the upstream mid-stream aborts that stream; after a restart all is well."""
        port = free_port()
        upstream = _UpstreamProcess(port)
        with running_sidecar(f"http://127.0.0.1:{port}") as sc:
            try:
                assert _ready(sc, 200)
                events: list[bytes] = []
                with pytest.raises(httpx.RemoteProtocolError):
                    with httpx.stream("GET", sc.url + "/sse?n=100&delay=0.05") as stream:
                        for chunk in stream.iter_raw():
                            events.append(chunk)
                            if len(events) == 3:
                                upstream.kill()
                assert 3 <= len(events) < 100
                down = httpx.post(sc.url + "/v1/models/m:predict", json={"instances": []})
                assert down.status_code == 502
                assert _ready(sc, 503)
                upstream = _UpstreamProcess(port)
                assert _ready(sc, 200)
                again = httpx.post(sc.url + "/v1/models/m:predict", json={"instances": [[1, 2]]})
                assert again.status_code == 200 and again.json() == {"predictions": [3]}
            finally:
                upstream.kill()


@pytest.fixture(scope="module")
def shared(upstream: ThreadedUvicorn) -> Iterator[SidecarHandle]:
    """One sidecar for the slow-client and load tests."""
    with running_sidecar(upstream.url) as handle:
        yield handle


def _port(handle: SidecarHandle) -> int:
    return int(handle.url.rsplit(":", 1)[1])


class TestSlowClients:
    def test_slowloris_headers_and_a_trickled_body_do_not_block_others(
        self, shared: SidecarHandle
    ) -> None:
        """While 50 connections dribble headers and one body trickles, others are served."""
        stop = threading.Event()
        slow = [socket.create_connection(("127.0.0.1", _port(shared))) for _ in range(50)]
        trickle = socket.create_connection(("127.0.0.1", _port(shared)))
        trickle.sendall(b"POST /raw HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")

        def dribble() -> None:
            while not stop.wait(0.2):
                for sock in slow:
                    sock.sendall(b"X-Slow: a\r\n")
                trickle.sendall(b"y")

        sock_thread = threading.Thread(target=dribble, daemon=True)
        for sock in slow:
            sock.sendall(b"GET /echo/slow HTTP/1.1\r\nHost: x\r\n")
        sock_thread.start()
        try:
            with httpx.Client(timeout=20) as client:
                codes = [client.get(shared.url + f"/echo/{i}").status_code for i in range(50)]
        finally:
            stop.set()
            sock_thread.join()
            for sock in [*slow, trickle]:
                sock.close()
        assert codes == [200] * 50


async def _one(port: int, index: int, abort: str | None) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        if abort == "connect":
            return 0
        if abort == "headers":
            writer.write(b"POST /raw HTTP/1.1\r\nHost: x\r\nContent-Le")
            await writer.drain()
            return 0
        body = b"z" * (index % 2000)
        head = f"POST /raw HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
        if abort == "body":
            writer.write(head.encode() + body[: len(body) // 2])
            await writer.drain()
            return 0
        writer.write(head.encode() + body)
        await writer.drain()
        if abort == "response":
            await reader.read(10)
            return 0
        status = await reader.readline()
        return int(status.split()[1])
    finally:
        writer.close()


async def _storm(port: int, count: int, concurrency: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    kinds = [None, None, "connect", "headers", "body", "response"]
    gate = asyncio.Semaphore(concurrency)

    async def guarded(i: int) -> int:
        async with gate:
            return await _one(port, i, rng.choice(kinds) if seed else None)

    return await asyncio.gather(*(guarded(i) for i in range(count)))


def _settle(handle: SidecarHandle) -> tuple[int, int, int]:
    """Proxy tasks, upstream connections in use and loop tasks once the dust settles."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if len(handle.process.proxy.server_state.tasks) == 0:
            break
        time.sleep(0.1)
    in_use = handle.runtime.forwarder.pool.in_use

    async def count() -> int:
        return len(asyncio.all_tasks())

    loop = handle.process.loop
    tasks = asyncio.run_coroutine_threadsafe(count(), loop).result(5)
    return len(handle.process.proxy.server_state.tasks), in_use, tasks


class TestLoad:
    def test_a_thousand_concurrent_connections_are_all_answered(
        self, shared: SidecarHandle
    ) -> None:
        """1,000 connections open at once each get a 200."""
        codes = asyncio.run(_storm(_port(shared), 1000, 1000, seed=0))
        assert codes.count(200) == 1000

    def test_random_aborts_leak_no_tasks_sockets_or_memory(self, shared: SidecarHandle) -> None:
        """After 3,000 requests with random aborts, tasks, sockets, fds and RSS are back."""
        asyncio.run(_storm(_port(shared), 300, 100, seed=1))  # warm up pools and allocators
        _settle(shared)
        fds, rss = _fds(), _rss()
        codes = asyncio.run(_storm(_port(shared), 3000, 200, seed=2))
        proxy_tasks, in_use, loop_tasks = _settle(shared)
        assert codes.count(200) > 0 and set(codes) <= {0, 200}
        assert proxy_tasks == 0 and in_use == 0 and loop_tasks < 20
        # Keep-alive upstream connections may stay pooled (at most a handful more fds).
        assert _fds() <= fds + 32
        assert _rss() - rss < 64 * 2**20
        assert httpx.get(shared.url + "/echo/after").status_code == 200
