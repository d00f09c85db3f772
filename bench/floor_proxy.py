"""The cheapest proxies this stack can make: the floor rows of `bench/proxy_bench.py`.

Three measuring sticks, none a product (no monitoring, no hop-by-hop filtering beyond
`Connection`/`Transfer-Encoding`, no error mapping, no streaming):
- `--stack lean` (default): a raw ASGI app on uvicorn (uvloop + httptools, no access log) that
  reads the body and forwards it with the sidecar's own upstream client (`sidecar.proxy.pool`);
  what any proxy on uvicorn with that client can hope for;
- `--stack raw`: the same client behind an `asyncio.Protocol` server with httptools' request
  parser and no ASGI at all; the gap between `lean` and `raw` is what ASGI (uvicorn's
  request cycle, the receive/send messages) costs;
- `--stack aiohttp`: the ASGI app with an aiohttp client session, the floor before the lean
  client (aiohttp stays in the test extras, as a cheap load client in the tests).

    python bench/floor_proxy.py --upstream http://127.0.0.1:8080 --port 8001 --stack raw
"""

from __future__ import annotations

import argparse
import asyncio
import gc
from typing import Any, cast

import httptools
import uvicorn
import uvloop

from sidecar.proxy.asgi import RawHeaders, Receive, Scope, Send
from sidecar.proxy.headers import encode_head
from sidecar.proxy.pool import Pool, Target

DROP = frozenset({b"connection", b"transfer-encoding", b"keep-alive"})


def _pool(upstream: str) -> Pool:
    return Pool(Target.parse(upstream), 1024, 5.0, 300.0)


async def forward(
    pool: Pool, method: str, target: bytes, headers: RawHeaders, body: bytes
) -> tuple[int, RawHeaders, bytes]:
    """One buffered exchange over the lean client: (status, headers, body)."""
    conn = await pool.acquire()
    try:
        out = [(k, v) for k, v in headers if k not in DROP]
        conn.begin(encode_head(method, target, out) + body, method == "HEAD")
        await conn.wait_head()
        return conn.status, conn.headers, await conn.read_all()
    finally:
        pool.release(conn)


async def _read_body(receive: Receive) -> bytes:
    parts = []
    more = True
    while more:
        message = await receive()
        parts.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(parts)


class LeanFloor:
    """ASGI app: forward every HTTP request over the lean client."""

    def __init__(self, upstream: str) -> None:
        self.pool = _pool(upstream)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        target = scope["raw_path"] + (
            b"?" + scope["query_string"] if scope["query_string"] else b""
        )
        status, headers, answer = await forward(
            self.pool, scope["method"], target, scope["headers"], body
        )
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": answer})


class AiohttpFloor:
    """ASGI app: forward every HTTP request with one aiohttp session."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.session: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        import aiohttp

        if scope["type"] != "http":
            return
        if self.session is None:
            self.session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=1024),
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            )
        body = await _read_body(receive)
        headers = [(k.decode(), v.decode()) for k, v in scope["headers"] if k not in DROP]
        url = self.upstream + scope["raw_path"].decode("latin-1")
        async with self.session.request(
            scope["method"], url, data=body, headers=headers
        ) as response:
            answer = await response.read()
            out = [(k, v) for k, v in response.raw_headers if k.lower() not in DROP]
            await send({"type": "http.response.start", "status": response.status, "headers": out})
            await send({"type": "http.response.body", "body": answer})


class RawFloor(asyncio.Protocol):
    """No ASGI: an `asyncio.Protocol` server parsing requests with httptools (no pipelining)."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.headers: RawHeaders = []
        self.body: list[bytes] = []
        self.task: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast("asyncio.Transport", transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()

    def on_message_begin(self) -> None:
        self.url, self.headers, self.body = b"", [], []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        method = self.parser.get_method().decode("latin-1")
        body = b"".join(self.body)
        self.task = asyncio.ensure_future(self._answer(method, self.url, self.headers, body))

    async def _answer(self, method: str, url: bytes, headers: RawHeaders, body: bytes) -> None:
        status, out, answer = await forward(self.pool, method, url, headers, body)
        if self.transport is None:
            return
        lines = [b"HTTP/1.1 %d X\r\n" % status]
        lines += [b"%b: %b\r\n" % pair for pair in out]
        if not any(name == b"content-length" for name, _ in out):
            lines.append(b"content-length: %d\r\n" % len(answer))
        lines += (b"\r\n", answer)
        self.transport.write(b"".join(lines))


async def serve_raw(upstream: str, host: str, port: int) -> None:
    """Run the no-ASGI floor until cancelled."""
    pool = _pool(upstream)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: RawFloor(pool), host, port, backlog=2048)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="upstream base URL")
    parser.add_argument("--host", default="127.0.0.1", help="listen address")
    parser.add_argument("--port", type=int, required=True, help="listen port")
    parser.add_argument("--stack", choices=("lean", "raw", "aiohttp"), default="lean")
    args = parser.parse_args()
    gc.collect()
    gc.freeze()
    if args.stack == "raw":
        uvloop.run(serve_raw(args.upstream, args.host, args.port))
        return
    app = LeanFloor(args.upstream) if args.stack == "lean" else AiohttpFloor(args.upstream)
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        lifespan="off",
        access_log=False,
        proxy_headers=False,
        http="httptools",
        loop="none",
        log_level="warning",
    )
    uvloop.run(uvicorn.Server(config).serve())


if __name__ == "__main__":
    main()
