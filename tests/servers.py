"""Real servers for tests: uvicorn upstreams and the sidecar itself, on 127.0.0.1 in threads."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from sidecar.config import load_settings
from sidecar.server import SidecarProcess


def sidecar_command(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """The real `sidecar` command as a subprocess (stdout is a pipe, not a terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "sidecar", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def stop_process(process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """SIGTERM, then SIGKILL if the process has not exited within `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThreadedUvicorn(uvicorn.Server):
    """A uvicorn server in a daemon thread; signal handlers off; waits until started."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    @contextlib.contextmanager
    def running(self) -> Iterator[ThreadedUvicorn]:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.config.port))
        self.port = sock.getsockname()[1]
        thread = threading.Thread(target=self.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not self.started and time.monotonic() < deadline:
            time.sleep(0.01)
        try:
            yield self
        finally:
            self.should_exit = True
            thread.join(10)
            sock.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def serve_app(app: Any, port: int = 0) -> contextlib.AbstractContextManager[ThreadedUvicorn]:
    """Run an ASGI app on 127.0.0.1 in a thread for the duration of a `with` block."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", access_log=False
    )
    return ThreadedUvicorn(config).running()


async def _echo(request: Request) -> Response:
    body = await request.body()
    info = {
        "method": request.method,
        "raw_path": request.scope["raw_path"].decode("latin-1"),
        "query": request.scope["query_string"].decode("latin-1"),
        "headers": [
            [k.decode("latin-1"), v.decode("latin-1")] for k, v in request.scope["headers"]
        ],
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "body_length": len(body),
    }
    return JSONResponse(info)


async def _raw(request: Request) -> Response:
    """Return the request body unchanged (with the request's content type)."""
    body = await request.body()
    return Response(
        body, media_type=request.headers.get("content-type", "application/octet-stream")
    )


async def _sse(request: Request) -> Response:
    count = int(request.query_params.get("n", "5"))
    delay = float(request.query_params.get("delay", "0.2"))

    async def events() -> Any:
        for i in range(count):
            yield f"data: {json.dumps({'i': i, 't': time.time()})}\n\n".encode()
            await asyncio.sleep(delay)

    return StreamingResponse(events(), media_type="text/event-stream")


async def _slow(request: Request) -> Response:
    await asyncio.sleep(float(request.query_params.get("s", "2")))
    return JSONResponse({"slept": True})


async def _cookies(request: Request) -> Response:
    response = Response(b"ok")
    response.raw_headers.append((b"set-cookie", b"a=1; Path=/"))
    response.raw_headers.append((b"x-order", b"first"))
    response.raw_headers.append((b"set-cookie", b"b=2; Path=/"))
    response.raw_headers.append((b"x-order", b"second"))
    return response


async def _status(request: Request) -> Response:
    code = int(request.path_params["code"])
    return Response(b"" if code in (204, 304) else b"status body", status_code=code)


def _score(row: object) -> float | int:
    if isinstance(row, list):
        return sum(row)
    if isinstance(row, dict):
        # A toy classifier over named features: class 1 when x0 > 0.
        return int(float(row.get("x0") or 0.0) > 0.0)
    return 0


async def _predict(request: Request) -> Response:
    # `?delay=S` answers after S seconds (requests in flight at a SIGTERM).
    await asyncio.sleep(float(request.query_params.get("delay", "0")))
    payload = await request.json()
    rows = payload.get("instances", [])
    return JSONResponse({"predictions": [_score(r) for r in rows]})


def upstream_app() -> Starlette:
    """The everyday test upstream."""
    return Starlette(
        routes=[
            Route(
                "/echo/{rest:path}",
                _echo,
                methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"],
            ),
            Route("/raw", _raw, methods=["POST", "PUT"]),
            Route("/sse", _sse),
            Route("/slow", _slow, methods=["GET", "POST"]),
            Route("/cookies", _cookies),
            Route("/status/{code:int}", _status, methods=["GET", "POST", "HEAD"]),
            Route("/v1/models/{name}:predict", _predict, methods=["POST"]),
        ]
    )


@contextlib.contextmanager
def running_sidecar(upstream: str, **options: Any) -> Iterator[SidecarHandle]:
    """Run a real sidecar process object (its own event loop) in a thread.

    The analysis CPU budget is off (`analysis_cpu_share` 1) unless a test sets it: on a slow
    machine the budget lowers sampling, and tests that count requests exactly then miss some.
    """
    flags = {
        "upstream": upstream,
        "host": "127.0.0.1",
        "port": 0,
        "admin_host": "127.0.0.1",
        "admin_port": 0,
        "analysis_cpu_share": "1",
        **{k: str(v) for k, v in options.items()},
    }
    process = SidecarProcess(load_settings(flags, environ={}))
    thread = threading.Thread(target=lambda: asyncio.run(process.serve()), daemon=True)
    thread.start()
    if not process.started.wait(10):
        raise RuntimeError("sidecar did not start")
    handle = SidecarHandle(process)
    try:
        yield handle
    finally:
        process.stop()
        thread.join(30)


class SidecarHandle:
    """URLs of a running sidecar."""

    def __init__(self, process: SidecarProcess) -> None:
        self.process = process
        proxy_port, admin_port = process.bound_ports
        self.url = f"http://127.0.0.1:{proxy_port}"
        self.admin_url = f"http://127.0.0.1:{admin_port}"

    @property
    def runtime(self) -> Any:
        return self.process.runtime
