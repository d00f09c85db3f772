"""The cheapest proxy this stack can make: the floor row of `bench/proxy_bench.py`.

A raw ASGI app on uvicorn (uvloop + httptools, no access log, no proxy-headers middleware) that
reads the request body, forwards it with one aiohttp session and relays the answer. No
monitoring, no hop-by-hop filtering beyond `Connection`, no error mapping, no streaming: not a
product, a measuring stick. What it serves on a core is what any proxy built on uvicorn and
aiohttp can hope for, so the sidecar's distance to nginx splits into what the stack costs and
what the sidecar adds.

    python bench/floor_proxy.py --upstream http://127.0.0.1:8080 --port 8001
"""

from __future__ import annotations

import argparse
import gc
from typing import Any

import aiohttp
import uvicorn
import uvloop

SKIP = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")
DROP = frozenset({b"connection", b"transfer-encoding", b"keep-alive"})


class Floor:
    """Forward every HTTP request to `upstream` with as little work as possible."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.session: aiohttp.ClientSession | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if self.session is None:
            self.session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=1024),
                auto_decompress=False,
                skip_auto_headers=SKIP,
            )
        parts = []
        more = True
        while more:
            message = await receive()
            parts.append(message.get("body", b""))
            more = message.get("more_body", False)
        headers = [(k.decode(), v.decode()) for k, v in scope["headers"] if k not in DROP]
        url = self.upstream + scope["raw_path"].decode("latin-1")
        async with self.session.request(
            scope["method"], url, data=b"".join(parts), headers=headers
        ) as response:
            body = await response.read()
            out = [(k, v) for k, v in response.raw_headers if k.lower() not in DROP]
            await send({"type": "http.response.start", "status": response.status, "headers": out})
            await send({"type": "http.response.body", "body": body})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="upstream base URL")
    parser.add_argument("--host", default="127.0.0.1", help="listen address")
    parser.add_argument("--port", type=int, required=True, help="listen port")
    args = parser.parse_args()
    config = uvicorn.Config(
        Floor(args.upstream),
        host=args.host,
        port=args.port,
        lifespan="off",
        access_log=False,
        proxy_headers=False,
        http="httptools",
        loop="none",
        log_level="warning",
    )
    gc.collect()
    gc.freeze()
    uvloop.run(uvicorn.Server(config).serve())


if __name__ == "__main__":
    main()
