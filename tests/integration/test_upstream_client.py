"""The upstream client: framing split anywhere, stale and misbehaving connections, its bound."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Coroutine, Iterator
from typing import Any

import aiohttp
import httpx
import pytest
from raw_upstream import RawRequest, RawUpstream, answer
from servers import running_sidecar

from sidecar.proxy.asgi import RawHeaders
from sidecar.proxy.connection import HIGH_WATER
from sidecar.proxy.pool import Pool, Target

CHUNKED = (
    b"HTTP/1.1 200 OK\r\nX-A: 1\r\nTransfer-Encoding: chunked\r\nX-A: 2\r\n\r\n"
    b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
)
SIZED = b"HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: 11\r\nX-A: 2\r\n\r\nhello world"


async def _fetch(pool: Pool, target: str) -> tuple[int, RawHeaders, bytes]:
    conn = await pool.acquire()
    try:
        conn.begin(f"GET {target} HTTP/1.1\r\nhost: x\r\n\r\n".encode(), False)
        await conn.wait_head()
        body = b""
        while chunk := await conn.read():
            body += chunk
        return conn.status, list(conn.headers), body
    finally:
        pool.release(conn)


def _pool(upstream: RawUpstream, size: int = 4) -> Pool:
    return Pool(Target.parse(upstream.url), size, 5.0, 5.0)


async def _close(pool: Pool) -> None:
    pool.close()
    await asyncio.sleep(0.01)  # let the transports finish closing


async def _two_fetches(
    upstream: RawUpstream, first: str, second: str, pause: float
) -> tuple[bytes, bytes, dict[str, int]]:
    """Two bodies fetched `pause` seconds apart over one pool, and what the pool discarded."""
    pool = _pool(upstream)
    one = (await _fetch(pool, first))[2]
    await asyncio.sleep(pause)
    two = (await _fetch(pool, second))[2]
    await _close(pool)
    return one, two, dict(pool.discarded)


async def _split(request: RawRequest, writer: asyncio.StreamWriter) -> None:
    """`/chunked/N` and `/sized/N`: the response in two writes split after byte N."""
    _, kind, cut = request.target.split("/")
    data = CHUNKED if kind == "chunked" else SIZED
    writer.write(data[: int(cut)])
    await writer.drain()
    await asyncio.sleep(0.002)
    writer.write(data[int(cut) :])
    await writer.drain()


@pytest.fixture()
def splitting() -> Iterator[RawUpstream]:
    """An upstream answering in two pieces."""
    upstream = RawUpstream(_split)
    yield upstream
    upstream.close()


class TestFraming:
    @pytest.mark.parametrize("kind", ["chunked", "sized"])
    def test_a_response_split_at_every_byte_boundary_parses_the_same(
        self, splitting: RawUpstream, kind: str
    ) -> None:
        """Whatever byte the response is split after, status, headers and body are the same."""
        data = CHUNKED if kind == "chunked" else SIZED

        async def run() -> list[tuple[int, RawHeaders, bytes]]:
            pool = _pool(splitting)
            try:
                return [await _fetch(pool, f"/{kind}/{cut}") for cut in range(1, len(data))]
            finally:
                await _close(pool)

        results = asyncio.run(run())
        length = [] if kind == "chunked" else [(b"content-length", b"11")]
        expected = (200, [(b"x-a", b"1"), *length, (b"x-a", b"2")], b"hello world")
        assert [r for r in results if r != expected] == []
        assert splitting.connections == 1  # every answer read to its end: one connection served

    def test_both_content_length_and_transfer_encoding_is_502_and_discarded(self) -> None:
        """An answer framed two ways is refused (502) and its connection never reused."""

        async def ambiguous(request: RawRequest, writer: asyncio.StreamWriter) -> None:
            if request.target == "/ambiguous":
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"3\r\nabc\r\n0\r\n\r\n"
                )
            else:
                writer.write(answer(b"fine"))

        upstream = RawUpstream(ambiguous)
        try:
            with running_sidecar(upstream.url) as sc:
                bad = httpx.get(sc.url + "/ambiguous")
                good = httpx.get(sc.url + "/next")
                discarded = dict(sc.runtime.forwarder.pool.discarded)
        finally:
            upstream.close()
        assert bad.status_code == 502 and bad.json()["error"] == "upstream_unavailable"
        assert "invalid response" in bad.json()["detail"]
        assert (good.status_code, good.content) == (200, b"fine")
        assert discarded.get("invalid") == 1 and upstream.connections == 2

    def test_response_headers_over_64_kib_are_502(self) -> None:
        """A response head over 64 KiB is refused; one of 60 KiB passes."""

        async def big_head(request: RawRequest, writer: asyncio.StreamWriter) -> None:
            size = 66_000 if request.target == "/huge" else 60_000
            filler = b"".join(b"X-Fill-%d: %b\r\n" % (i, b"v" * 980) for i in range(size // 1000))
            writer.write(answer(b"ok", extra=filler))

        upstream = RawUpstream(big_head)
        try:
            with running_sidecar(upstream.url) as sc:
                huge = httpx.get(sc.url + "/huge")
                large = httpx.get(sc.url + "/large")
        finally:
            upstream.close()
        assert huge.status_code == 502 and "64 KiB" in huge.json()["detail"]
        assert (large.status_code, large.content) == (200, b"ok")


class TestConnectionReuse:
    def test_a_pooled_connection_the_upstream_closed_is_replaced(self) -> None:
        """The upstream closes an idle keep-alive connection: the next request opens a new one."""

        async def close_after(request: RawRequest, writer: asyncio.StreamWriter) -> None:
            writer.write(answer(request.target.encode()))
            await writer.drain()
            await asyncio.sleep(0.01)
            writer.close()

        upstream = RawUpstream(close_after)
        try:
            first, second, discarded = asyncio.run(_two_fetches(upstream, "/one", "/two", 0.2))
        finally:
            upstream.close()
        assert (first, second) == (b"/one", b"/two")
        assert discarded == {"closed": 1, "shutdown": 1} and upstream.connections == 2

    def test_a_reused_connection_closing_unanswered_is_retried_once(self) -> None:
        """A buffered request that meets a stale reused connection is sent again, fresh."""

        async def stale(request: RawRequest, writer: asyncio.StreamWriter) -> None:
            if request.index > 0:
                writer.close()  # as if its keep-alive timer fired just as the request came
                return
            writer.write(answer(request.body))

        upstream = RawUpstream(stale)
        try:
            with running_sidecar(upstream.url) as sc:
                first = httpx.post(sc.url + "/a", content=b"one")
                second = httpx.post(sc.url + "/a", content=b"two")
        finally:
            upstream.close()
        assert (first.content, second.content) == (b"one", b"two")
        assert [r.body for r in upstream.requests] == [b"one", b"two", b"two"]

    @pytest.mark.parametrize("delay", [0.0, 0.05])
    def test_an_unsolicited_second_response_never_answers_the_next_request(
        self, delay: float
    ) -> None:
        """Extra bytes after an answer (at once or while idle) discard that connection."""

        async def twice(request: RawRequest, writer: asyncio.StreamWriter) -> None:
            writer.write(answer(request.target.encode()))
            if request.target == "/twice":
                await asyncio.sleep(delay)
                writer.write(answer(b"stray"))

        upstream = RawUpstream(twice)
        try:
            pause = delay + 0.05
            first, second, discarded = asyncio.run(_two_fetches(upstream, "/twice", "/next", pause))
        finally:
            upstream.close()
        assert (first, second) == (b"/twice", b"/next")
        assert discarded == {"unsolicited": 1, "shutdown": 1} and upstream.connections == 2


class TestBound:
    def test_the_pool_never_exceeds_its_bound_under_1000_concurrent_requests(self) -> None:
        """1,000 requests at once over max_connections=10: all answered, never 11 connections."""

        async def slowish(request: RawRequest, writer: asyncio.StreamWriter) -> None:
            await asyncio.sleep(0.002)
            writer.write(answer(request.target.encode()))

        async def storm(url: str) -> list[bytes]:
            # aiohttp as the load client: httpx's pool is quadratic in its connections (40 s
            # of its CPU for these 1,000 requests on a slow machine).
            connector = aiohttp.TCPConnector(limit=1000)
            timeout = aiohttp.ClientTimeout(total=60)
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:

                async def one(i: int) -> bytes:
                    async with client.get(f"{url}/r{i}") as response:
                        return await response.read()

                return list(await asyncio.gather(*(one(i) for i in range(1000))))

        upstream = RawUpstream(slowish)
        try:
            with running_sidecar(upstream.url, max_connections=10) as sc:
                bodies = asyncio.run(storm(sc.url))
                peak = sc.runtime.forwarder.pool.peak
        finally:
            upstream.close()
        assert bodies == [f"/r{i}".encode() for i in range(1000)]
        assert peak <= 10 and upstream.peak <= 10


class TestBackpressure:
    def test_reading_pauses_while_the_consumer_is_slow(self) -> None:
        """An 8 MiB answer read slowly: at most HIGH_WATER plus one read is ever buffered."""
        size = 8 * 2**20

        async def big(request: RawRequest, writer: asyncio.StreamWriter) -> None:
            writer.write(answer(b"z" * size))
            await writer.drain()

        upstream = RawUpstream(big)

        async def run() -> tuple[int, int, bool]:
            pool = _pool(upstream)
            conn = await pool.acquire()
            conn.begin(b"GET /big HTTP/1.1\r\nhost: x\r\n\r\n", False)
            await conn.wait_head()
            total, most, paused = 0, 0, False
            while chunk := await conn.read():
                total += len(chunk)
                await asyncio.sleep(0.002)  # a slow client
                most = max(most, conn.buffered)
                paused = paused or conn.reading_paused
            pool.release(conn)
            await _close(pool)
            return total, most, paused

        try:
            total, most, paused = asyncio.run(run())
        finally:
            upstream.close()
        assert total == size and paused
        assert most <= HIGH_WATER + 2**18

    def test_uploads_wait_while_the_upstream_does_not_read(self) -> None:
        """Writing to an upstream that reads nothing pauses; `drain` returns once it reads."""
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"

        async def run() -> tuple[bool, bool]:
            pool = Pool(Target.parse(url), 1, 5.0, 5.0)
            conn = await pool.acquire()
            peer, _ = await asyncio.to_thread(listener.accept)
            conn.begin(b"POST /up HTTP/1.1\r\nhost: x\r\ncontent-length: 99999999\r\n\r\n", False)
            while not conn.writing_paused:
                conn.write(b"u" * 65536)
            blocked = not await _done_within(conn.drain(), 0.3)
            reader = threading.Thread(target=lambda: _drain_socket(peer), daemon=True)
            reader.start()
            resumed = await _done_within(conn.drain(), 10)
            pool.release(conn)
            await _close(pool)
            peer.close()
            return blocked, resumed

        try:
            blocked, resumed = asyncio.run(run())
        finally:
            listener.close()
        assert blocked and resumed


async def _done_within(awaitable: Coroutine[Any, Any, None], seconds: float) -> bool:
    try:
        await asyncio.wait_for(awaitable, seconds)
    except TimeoutError:
        return False
    return True


def _drain_socket(sock: socket.socket) -> None:
    sock.settimeout(2)
    with contextlib.suppress(OSError):
        while sock.recv(1 << 20):
            pass
