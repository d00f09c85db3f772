"""Process wiring: two uvicorn listeners (proxy and admin) on one event loop, and shutdown.

SIGTERM or SIGINT stops both listeners from accepting, lets in-flight requests finish for up to
the grace period (default 25 s), flushes telemetry and exits 0. The listeners' sockets are bound
before serving, so a port of 0 picks a free port and `bound_ports` tells which.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from typing import Any

import uvicorn

from sidecar.admin import build_admin_app
from sidecar.config import Settings
from sidecar.proxy.listener import guarded_protocol
from sidecar.runtime import Runtime

log = logging.getLogger("sidecar")

GC_YOUNG_THRESHOLD = 10_000
"""Net new container objects that trigger a young-generation collection (CPython: 700).

Proxied requests allocate and free their objects within the request, so at 700 the mere swing
of in-flight objects (64 requests hold about 1,000) triggered a collection every ~20 requests:
10 s at c=64 spent 690 ms (7%) in GC, at c=16 330 ms. At 10,000 only what outlives requests
(prediction-store entries, sketches) triggers one: 48 ms in the same 10 s, with a young
collection of about 3 ms every several seconds. (A threshold of 50,000 let analysis batches
pile up into 37-74 ms pauses.)"""


class _Server(uvicorn.Server):
    """A uvicorn server whose signals are handled by `SidecarProcess`, not by itself."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket (port 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class SidecarProcess:
    """The sidecar: proxy listener, admin listener, runtime; `run()` blocks until stopped."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.runtime = Runtime(settings)
        self.proxy_socket = bind_socket(settings.host, settings.port)
        self.admin_socket = bind_socket(settings.effective_admin_host, settings.admin_port)
        common: dict[str, Any] = {
            "lifespan": "off",
            "access_log": False,
            "proxy_headers": False,
            "server_header": False,
            "date_header": False,
            "log_config": None,
            "timeout_graceful_shutdown": settings.grace_period,
            "timeout_keep_alive": 75,
        }
        self.proxy = _Server(
            uvicorn.Config(
                self.runtime.forwarder,
                http=guarded_protocol(settings.header_timeout),
                loop="none",
                limit_concurrency=settings.max_client_connections,
                **(common | {"timeout_keep_alive": settings.keep_alive_timeout}),
            )
        )
        self.admin = _Server(uvicorn.Config(build_admin_app(self.runtime), loop="none", **common))
        self.started = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None

    @property
    def bound_ports(self) -> tuple[int, int]:
        """(proxy port, admin port) actually bound."""
        return self.proxy_socket.getsockname()[1], self.admin_socket.getsockname()[1]

    def stop(self) -> None:
        """Ask both listeners to stop gracefully (thread-safe)."""
        self.proxy.should_exit = True
        self.admin.should_exit = True

    async def serve(self) -> None:
        """Serve until stopped; then drain, flush and close."""
        self.loop = asyncio.get_running_loop()
        await self.runtime.startup()
        try:
            tasks = [
                asyncio.ensure_future(self.proxy.serve(sockets=[self.proxy_socket])),
                asyncio.ensure_future(self.admin.serve(sockets=[self.admin_socket])),
            ]
            while not (self.proxy.started and self.admin.started):
                if any(t.done() for t in tasks):
                    break
                await asyncio.sleep(0.01)
            # Objects alive after start-up are never garbage; freezing them shortens GC pauses.
            gc.collect()
            gc.freeze()
            gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
            self.started.set()
            await asyncio.gather(*tasks)
        finally:
            await self.runtime.shutdown()
            self.proxy_socket.close()
            self.admin_socket.close()

    def run(self) -> None:
        """Serve in this (main) thread with signal handling, using uvloop when available."""
        # GC thresholds stay at the defaults: with analysis on, a 50,000 gen-0 threshold made
        # each young collection scan the queued pairs and took 37-74 ms (p99 at 500 req/s: 39 ms
        # vs 4-6 ms with the defaults, measured with bench/proxy_bench.py's paced client).
        # The analysis thread shares the GIL with the event loop: a 1 ms switch interval (default
        # 5 ms) bounds how long a sketch update can hold a proxied request back.
        sys.setswitchinterval(0.001)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop())
        try:
            import uvloop
        except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
            asyncio.run(self.serve())
        else:
            uvloop.run(self.serve())
