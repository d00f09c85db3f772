"""The proxy forwards byte for byte, streams both ways and maps upstream failures clearly."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time

import httpx
import pytest
from servers import SidecarHandle, ThreadedUvicorn, free_port, running_sidecar


class TestByteExact:
    @pytest.mark.parametrize("size", [0, 1, 64 * 1024, 64 * 1024 + 1, 50 * 1024 * 1024])
    def test_random_binary_body_round_trips_unchanged(
        self, sidecar: SidecarHandle, size: int
    ) -> None:
        """A random binary body comes back from /raw identical, whatever its size."""
        body = os.urandom(size)
        response = httpx.post(
            sidecar.url + "/raw",
            content=body,
            timeout=60,
            headers={"content-type": "application/octet-stream"},
        )
        assert response.status_code == 200
        assert len(response.content) == size
        assert hashlib.sha256(response.content).digest() == hashlib.sha256(body).digest()

    def test_method_path_and_query_reach_the_upstream_as_sent(self, sidecar: SidecarHandle) -> None:
        """Percent-encoding in path and query is preserved, not re-encoded or decoded."""
        response = httpx.request("PATCH", sidecar.url + "/echo/a%2Fb%20c?x=1%20&y=%E2%9C%93&z")
        info = response.json()
        assert info["method"] == "PATCH"
        assert info["raw_path"] == "/echo/a%2Fb%20c"
        assert info["query"] == "x=1%20&y=%E2%9C%93&z"

    def test_repeated_response_headers_keep_their_order(self, sidecar: SidecarHandle) -> None:
        """Set-Cookie twice and interleaved headers arrive in the upstream's order."""
        raw = httpx.get(sidecar.url + "/cookies").headers.raw
        picked = [(k, v) for k, v in raw if k in (b"set-cookie", b"x-order")]
        assert picked == [
            (b"set-cookie", b"a=1; Path=/"),
            (b"x-order", b"first"),
            (b"set-cookie", b"b=2; Path=/"),
            (b"x-order", b"second"),
        ]

    def test_content_encoding_passes_through_compressed(self, sidecar: SidecarHandle) -> None:
        """A gzip body and its Content-Encoding header reach the upstream still compressed."""
        import gzip

        body = gzip.compress(b'{"instances": [[1, 2]]}')
        info = httpx.post(
            sidecar.url + "/echo/x", content=body, headers={"content-encoding": "gzip"}
        ).json()
        assert info["body_sha256"] == hashlib.sha256(body).hexdigest()
        assert ["content-encoding", "gzip"] in info["headers"]


class TestHeaders:
    def test_hop_by_hop_headers_are_not_forwarded(self, sidecar: SidecarHandle) -> None:
        """Connection, the headers it names, Keep-Alive, TE and Upgrade stay on this hop."""
        info = httpx.get(
            sidecar.url + "/echo/h",
            headers={
                "connection": "keep-alive, x-private",
                "x-private": "secret",
                "keep-alive": "5",
                "te": "trailers",
                "upgrade": "h2c",
                "proxy-connection": "keep-alive",
                "x-public": "yes",
            },
        ).json()
        names = {name for name, _ in info["headers"]}
        assert not names & {
            "connection",
            "x-private",
            "keep-alive",
            "te",
            "upgrade",
            "proxy-connection",
        }
        assert "x-public" in names

    def test_forwarded_headers_are_appended_and_host_kept(self, sidecar: SidecarHandle) -> None:
        """X-Forwarded-For appends the client; the client's Host reaches the upstream."""
        info = httpx.get(
            sidecar.url + "/echo/h",
            headers={"host": "models.example", "x-forwarded-for": "10.1.2.3"},
        ).json()
        headers = dict(info["headers"])
        assert headers["host"] == "models.example"
        assert headers["x-forwarded-for"] == "10.1.2.3, 127.0.0.1"
        assert headers["x-forwarded-proto"] == "http"
        assert headers["x-forwarded-host"] == "models.example"

    def test_host_header_can_be_rewritten(self, upstream: ThreadedUvicorn) -> None:
        """--upstream-host-header replaces the Host sent upstream."""
        with running_sidecar(upstream.url, upstream_host_header="model.internal") as sc:
            info = httpx.get(sc.url + "/echo/h", headers={"host": "public.example"}).json()
        assert dict(info["headers"])["host"] == "model.internal"

    def test_request_id_is_honoured_or_minted(self, sidecar: SidecarHandle) -> None:
        """An incoming X-Request-ID is kept and echoed; without one the answer carries a new id."""
        given = httpx.get(sidecar.url + "/echo/r", headers={"x-request-id": "abc-1"})
        assert dict(given.json()["headers"])["x-request-id"] == "abc-1"
        assert given.headers.get_list("x-request-id") == ["abc-1"]  # echoed by the proxy, once
        minted = httpx.get(sidecar.url + "/echo/r")
        assert len(minted.headers["x-request-id"]) == 32
        assert dict(minted.json()["headers"])["x-request-id"] == minted.headers["x-request-id"]


class TestBodiesAndStatuses:
    def test_head_204_and_304_carry_no_body(self, sidecar: SidecarHandle) -> None:
        """HEAD, 204 and 304 answers have empty bodies."""
        assert httpx.head(sidecar.url + "/status/200").content == b""
        assert httpx.get(sidecar.url + "/status/204").status_code == 204
        not_modified = httpx.get(sidecar.url + "/status/304")
        assert (not_modified.status_code, not_modified.content) == (304, b"")

    def test_upstream_error_statuses_pass_through(self, sidecar: SidecarHandle) -> None:
        """A 503 from the model server is the client's 503, body included."""
        response = httpx.post(sidecar.url + "/status/503", content=b"x")
        assert (response.status_code, response.content) == (503, b"status body")

    def test_expect_100_continue_works(self, sidecar: SidecarHandle) -> None:
        """A client that sends Expect: 100-continue gets 100, sends the body, gets the answer."""
        host, port = sidecar.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(
                b"POST /raw HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                b"Expect: 100-continue\r\nContent-Type: text/plain\r\n\r\n"
            )
            assert sock.recv(1024).startswith(b"HTTP/1.1 100")
            sock.sendall(b"hello")
            answer = b""
            while not answer.endswith(b"hello"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"hello")

    def test_chunked_upload_streams_to_the_upstream(self, sidecar: SidecarHandle) -> None:
        """A chunked upload of unknown length reaches the upstream chunked and whole."""
        parts = [os.urandom(100_000) for _ in range(20)]
        info = httpx.post(sidecar.url + "/echo/up", content=iter(parts), timeout=30).json()
        assert info["body_sha256"] == hashlib.sha256(b"".join(parts)).hexdigest()
        assert ["transfer-encoding", "chunked"] in info["headers"]

    def test_server_sent_events_arrive_before_the_stream_ends(self, sidecar: SidecarHandle) -> None:
        """The first event reaches the client long before the upstream writes the last one."""
        with httpx.stream("GET", sidecar.url + "/sse?n=5&delay=0.3", timeout=10) as response:
            lines = response.iter_lines()
            first = next(line for line in lines if line.startswith("data:"))
            received_first = time.time()
            rest = [line for line in lines if line.startswith("data:")]
        sent_first = json.loads(first[5:])["t"]
        sent_last = json.loads(rest[-1][5:])["t"]
        assert len(rest) == 4
        assert received_first < sent_last
        assert sent_last - sent_first > 1.0


class TestFailures:
    def test_unreachable_upstream_is_502_with_json(self) -> None:
        """Nothing listening upstream: 502 with error upstream_unavailable."""
        with running_sidecar(f"http://127.0.0.1:{free_port()}") as sc:
            response = httpx.post(sc.url + "/v1/models/m:predict", json={"instances": []})
            ready = httpx.get(sc.admin_url + "/readyz")
        assert response.status_code == 502
        assert response.json()["error"] == "upstream_unavailable"
        assert ready.status_code == 503

    def test_slow_upstream_is_504_with_json(self, upstream: ThreadedUvicorn) -> None:
        """An upstream slower than --read-timeout: 504 with error upstream_timeout."""
        with running_sidecar(upstream.url, read_timeout=0.3) as sc:
            response = httpx.get(sc.url + "/slow?s=2")
        assert response.status_code == 504
        body = response.json()
        assert body["error"] == "upstream_timeout" and "0.3" in body["detail"]

    def test_upstream_dying_mid_response_aborts_the_client(self) -> None:
        """A truncated upstream body is never delivered as a complete response."""
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]

        import threading

        def serve() -> None:
            for _ in range(2):
                conn, _ = listener.accept()
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 70000)
                time.sleep(0.2)
                conn.close()

        threading.Thread(target=serve, daemon=True).start()
        with running_sidecar(f"http://127.0.0.1:{port}") as sc:
            with pytest.raises(httpx.RemoteProtocolError):
                httpx.get(sc.url + "/big", timeout=10)
        listener.close()

    def test_client_aborts_leave_no_tasks_or_connections(self, upstream: ThreadedUvicorn) -> None:
        """After 1,000 aborted requests the proxy holds no extra tasks or upstream connections."""
        import asyncio

        with running_sidecar(upstream.url) as sc:
            host, port = sc.url.removeprefix("http://").split(":")
            httpx.get(sc.url + "/echo/warm")
            for i in range(1000):
                with socket.create_connection((host, int(port))) as sock:
                    if i % 2:
                        sock.sendall(b"GET /slow?s=5 HTTP/1.1\r\nHost: x\r\n\r\n")
                    else:
                        sock.sendall(
                            b"POST /raw HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
                            b"\r\n" + b"y" * 1000
                        )
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                tasks = len(sc.process.proxy.server_state.tasks)
                if tasks == 0:
                    break
                time.sleep(0.1)
            in_use = sc.runtime.forwarder.pool.in_use

            async def count_tasks() -> int:
                return len(asyncio.all_tasks())

            loop_tasks = asyncio.run_coroutine_threadsafe(count_tasks(), sc.process.loop).result(5)
            assert httpx.get(sc.url + "/echo/after").status_code == 200
        assert tasks == 0
        assert in_use == 0
        assert loop_tasks < 20
