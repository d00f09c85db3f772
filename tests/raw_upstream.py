"""A raw asyncio HTTP/1.1 upstream in a thread whose answers a test scripts byte for byte.

`RawUpstream(handler)` calls `await handler(request, writer)` for every request it reads
(keep-alive: several per connection); the handler writes whatever bytes it likes, may sleep,
or close the connection. It counts requests and the connections open at once.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RawRequest:
    """One request as read from the wire."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    index: int
    """The request's number on its connection, from 0."""


Handler = Callable[[RawRequest, asyncio.StreamWriter], Awaitable[None]]


def answer(body: bytes, status: int = 200, extra: bytes = b"") -> bytes:
    """A complete keep-alive response with a Content-Length."""
    head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n".encode()
    return head + extra + b"\r\n" + body


class RawUpstream:
    """A scripted upstream on 127.0.0.1 with its own event loop."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[RawRequest] = []
        self.open = 0
        self.peak = 0
        self.connections = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self.thread.start()
        started.wait(10)
        self.url = f"http://127.0.0.1:{self.port}"

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=2048)
        )
        self.port = self.server.sockets[0].getsockname()[1]
        started.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self._shutdown())
        self.loop.close()

    async def _shutdown(self) -> None:
        self.server.close()
        for writer in list(self._writers):
            writer.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        self.open += 1
        self.connections += 1
        self.peak = max(self.peak, self.open)
        try:
            index = 0
            while request := await _read_request(reader, index):
                self.requests.append(request)
                await self.handler(request, writer)
                if writer.is_closing():
                    break
                index += 1
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.open -= 1
            self._writers.discard(writer)
            writer.close()

    def close(self) -> None:
        """Stop the server and its loop."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


async def _read_request(reader: asyncio.StreamReader, index: int) -> RawRequest | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = b""
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
            body += (await reader.readexactly(size + 2))[:-2]
        await reader.readuntil(b"\r\n")
    return RawRequest(method, target, headers, body, index)
