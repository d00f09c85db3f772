"""Nothing crossed, nothing sent twice, nothing left hanging: a misbehaving upstream and clients."""

from __future__ import annotations

import asyncio
import logging
import random
import select
import socket
import time

import httpx
import pytest
from raw_upstream import RawRequest, RawUpstream, answer
from servers import ThreadedUvicorn, free_port, running_sidecar

KINDS = ("extra", "close", "slow")


async def _misbehave(request: RawRequest, writer: asyncio.StreamWriter) -> None:
    """`/r/<id>?m=<kind>`: answer <id>, or misbehave as told."""
    path, _, query = request.target.partition("?m=")
    own = path.rsplit("/", 1)[1].encode()
    if query == "close":
        writer.close()
    elif query == "extra":  # a correct answer, then one nobody asked for, in the same write
        writer.write(answer(own) + answer(b"stray-" + own))
    elif query == "slow":
        await asyncio.sleep(0.05)
        writer.write(answer(own))
    else:
        writer.write(answer(own))


async def _requests(url: str, count: int, seed: int) -> list[tuple[str, str, int, bytes]]:
    rng = random.Random(seed)
    plan = [(str(i), rng.choice(KINDS) if rng.random() < 0.1 else "") for i in range(count)]
    gate = asyncio.Semaphore(32)
    async with httpx.AsyncClient(timeout=30) as client:

        async def one(own: str, kind: str) -> tuple[str, str, int, bytes]:
            async with gate:
                suffix = f"?m={kind}" if kind else ""
                response = await client.post(f"{url}/r/{own}{suffix}", content=own.encode())
                return own, kind, response.status_code, response.content

        return await asyncio.gather(*(one(own, kind) for own, kind in plan))


class TestMisbehavingUpstream:
    def test_no_answer_reaches_the_wrong_client_over_1000_requests(self) -> None:
        """With 10% of requests misbehaving upstream, every 200 carries its own request's body."""
        upstream = RawUpstream(_misbehave)
        try:
            with running_sidecar(upstream.url) as sc:
                results = asyncio.run(_requests(sc.url, 1000, seed=21))
                discarded = dict(sc.runtime.forwarder.pool.discarded)
        finally:
            upstream.close()
        wrong = [
            (own, body)
            for own, _, status, body in results
            if status == 200 and body != own.encode()
        ]
        assert wrong == []
        assert all(status == 200 for _, kind, status, _ in results if kind != "close")
        assert all(status == 502 for _, kind, status, _ in results if kind == "close")
        extras = sum(1 for _, kind, _, _ in results if kind == "extra")
        assert extras > 0 and discarded.get("unsolicited") == extras

    def test_a_post_reaches_the_upstream_once_when_a_fresh_connection_closes(self) -> None:
        """A new connection that closes without answering is a 502, never a second POST."""

        async def hang_up(request: RawRequest, writer: asyncio.StreamWriter) -> None:
            writer.close()

        upstream = RawUpstream(hang_up)
        try:
            with running_sidecar(upstream.url) as sc:
                responses = [httpx.post(sc.url + "/infer", content=b"x") for _ in range(10)]
        finally:
            upstream.close()
        assert [r.status_code for r in responses] == [502] * 10
        assert "closed the connection" in responses[0].json()["detail"]
        assert len(upstream.requests) == 10


def _closed(sock: socket.socket) -> bool:
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        return sock.recv(1024) == b""
    except ConnectionError:
        return True


class TestSlowloris:
    def test_200_slowloris_connections_are_closed_by_the_header_timeout(self) -> None:
        """Connections trickling a header line, or silent, close after header_timeout."""
        target = RawUpstream(_misbehave)
        try:
            with running_sidecar(target.url, header_timeout=1) as sc:
                port = int(sc.url.rsplit(":", 1)[1])
                slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(200)]
                silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
                for sock in slow:
                    sock.sendall(b"GET /r/1 HTTP/1.1\r\nHost: x\r\n")
                started, open_ = time.monotonic(), set(range(200))
                while open_ and time.monotonic() - started < 6:
                    for i in list(open_):
                        try:
                            slow[i].sendall(b"X-Slow: a\r\n")
                        except OSError:
                            open_.discard(i)
                            continue
                        if _closed(slow[i]):
                            open_.discard(i)
                    time.sleep(0.2)
                elapsed = time.monotonic() - started
                silent_closed = sum(_closed(sock) for sock in silent)
                normal = httpx.get(sc.url + "/r/ok")
                for sock in slow + silent:
                    sock.close()
        finally:
            target.close()
        assert open_ == set() and 0.8 < elapsed < 4
        assert silent_closed == 20
        assert (normal.status_code, normal.content) == (200, b"ok")


class TestReadiness:
    def test_readyz_fails_while_most_recent_requests_time_out(
        self, upstream: ThreadedUvicorn
    ) -> None:
        """An upstream that accepts but never answers in time turns /readyz 503, with why."""
        with running_sidecar(upstream.url, read_timeout=0.2) as sc:
            before = httpx.get(sc.admin_url + "/readyz")
            codes = [httpx.get(sc.url + "/slow?s=1").status_code for _ in range(10)]
            after = httpx.get(sc.admin_url + "/readyz")
        assert before.status_code == 200 and codes == [504] * 10
        assert after.status_code == 503 and "10 of the last 10" in after.json()["detail"]

    def test_readyz_follows_the_health_path_through_the_upstream_client(
        self, upstream: ThreadedUvicorn
    ) -> None:
        """With upstream_health_path set, /readyz is 200 only while GET on it answers 2xx."""
        with running_sidecar(upstream.url, upstream_health_path="/status/200") as sc:
            healthy = httpx.get(sc.admin_url + "/readyz")
        with running_sidecar(upstream.url, upstream_health_path="/status/503") as sc:
            sick = httpx.get(sc.admin_url + "/readyz")
        assert healthy.status_code == 200
        assert sick.status_code == 503 and "answered 503" in sick.json()["detail"]


class TestFailureWords:
    def test_a_502_names_host_port_and_reason_and_is_logged(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Nothing listening: the detail says host:port and "connection refused", once logged."""
        port = free_port()
        with caplog.at_level(logging.WARNING, logger="sidecar.proxy"):
            with running_sidecar(f"http://127.0.0.1:{port}") as sc:
                answers = [httpx.get(sc.url + "/x") for _ in range(3)]
        detail = answers[0].json()["detail"]
        assert detail == f"upstream 127.0.0.1:{port}: cannot connect: connection refused"
        assert "ssl" not in detail
        lines = [r.getMessage() for r in caplog.records if r.name == "sidecar.proxy"]
        assert lines == [f"answered 502: {detail}"]  # the next two within the second: counted
