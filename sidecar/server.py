"""Process wiring: two uvicorn listeners (proxy and admin) on one event loop, and shutdown.

SIGTERM or SIGINT stops both listeners from accepting, lets in-flight requests finish for up to
the grace period (default 25 s), lets the analysis queue empty within what is left of it, saves
the state snapshot, flushes telemetry and exits 0. The listeners' sockets are bound before
serving, so a port of 0 picks a free port and `bound_ports` tells which. A socket that cannot be
bound raises `ListenError` naming the address and port ("cannot listen on 0.0.0.0:8000: address
already in use"); the proxy and admin listeners on one port are refused before either is bound.
Start-up and shutdown are logged once each, by the logger "sidecar" (uvicorn's per-listener
lifecycle lines, which came twice, are filtered out).
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
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

from sidecar.admin import build_admin_app
from sidecar.analysis import YIELD_EVERY
from sidecar.config import ConfigError, Settings
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


UVICORN_LIFECYCLE = (
    "Started server process",
    "Waiting for application",
    "Application startup",
    "Shutting down",
    "Waiting for connections to close",
    "Waiting for background tasks",
    "Finished server process",
)
"""Prefixes of uvicorn's info lines that each listener logs (so twice); the sidecar logs its own."""


class ListenError(OSError):
    """A listening socket could not be bound; the message names the address and the port."""


class _OneLifecycle(logging.Filter):
    """Drops uvicorn's per-listener start-up and shutdown info lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.levelno <= logging.INFO and str(record.msg).startswith(UVICORN_LIFECYCLE)
        )


def _quiet_uvicorn_lifecycle() -> None:
    """Install `_OneLifecycle` on uvicorn's logger once per process."""
    uvicorn_log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _OneLifecycle) for f in uvicorn_log.filters):
        uvicorn_log.addFilter(_OneLifecycle())


def check_listeners(settings: Settings) -> None:
    """Refuse a proxy and an admin listener on one address and port (ConfigError)."""
    port, admin = settings.port, settings.admin_port
    if port == 0 or port != admin:
        return
    hosts = {settings.host, settings.effective_admin_host}
    if len(hosts) == 1 or hosts & {"0.0.0.0", "::", ""}:
        raise ConfigError(
            f"--admin-port={admin} is the same as --port={port}: the proxy and the admin "
            f"listener need different ports (the admin default is 9464)"
        )


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
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        reason = (exc.strerror or str(exc)).lower()
        where = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
        raise ListenError(exc.errno, f"cannot listen on {where}: {reason}") from exc
    sock.set_inheritable(True)
    return sock


class SidecarProcess:
    """The sidecar: proxy listener, admin listener, runtime; `run()` blocks until stopped."""

    def __init__(self, settings: Settings) -> None:
        check_listeners(settings)
        _quiet_uvicorn_lifecycle()
        self.settings = settings
        self.runtime = Runtime(settings)
        self.proxy_socket = bind_socket(settings.host, settings.port)
        try:
            self.admin_socket = bind_socket(settings.effective_admin_host, settings.admin_port)
        except OSError:
            self.proxy_socket.close()
            raise
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
        self.stopping_at: float | None = None

    @property
    def bound_ports(self) -> tuple[int, int]:
        """(proxy port, admin port) actually bound."""
        return self.proxy_socket.getsockname()[1], self.admin_socket.getsockname()[1]

    def stop(self) -> None:
        """Ask both listeners to stop gracefully (thread-safe)."""
        if self.stopping_at is None:
            self.stopping_at = time.monotonic()
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
            log.info("shutting down: listeners closed, in-flight requests done; analysing the rest")
            # Drain, then analysis, then the snapshot: all within one grace period.
            since = time.monotonic() if self.stopping_at is None else self.stopping_at
            await self.runtime.shutdown(since + self.settings.grace_period)
            self.proxy_socket.close()
            self.admin_socket.close()
            log.info("stopped")

    def run(self) -> None:
        """Serve in this (main) thread with signal handling, using uvloop when available."""
        # Background threads share the GIL with the event loop. The analysis thread hands it
        # over every YIELD_EVERY (0.2 ms) of work itself; the same switch interval (default
        # 5 ms) bounds what the others may hold it for while a request waits: the window
        # figures' refresh, drift calibration, admin requests in the thread pool.
        sys.setswitchinterval(YIELD_EVERY)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop())
        try:
            import uvloop
        except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
            asyncio.run(self.serve())
        else:
            uvloop.run(self.serve())
