"""`sidecar demo`: model server, sidecar and traffic in one process, and a live view of them.

Three threads of work: the toy model server (uvicorn, its own event loop in a thread), the
sidecar (`SidecarProcess.serve()` in a thread, as in production but without its signal
handlers) and, on the main thread's loop, the traffic generator and the view. The reference
profile is built from the training data with the project's `ProfileBuilder` and written, with a
config file (fairness on `group`, favourable 1; drift by PSI > 0.2 for numeric and JS > 0.2 for
categorical columns, each also past its no-drift quantile at the window's row count, so sampling
noise in 10 s windows does not fire), to a temporary directory removed at exit. The view reads
the sliding window (`window=current`), the one the status and the gauges judge. SIGINT, SIGTERM
or the end of `--duration` stop the traffic, then the sidecar, then the model server; exit
status 0 (1 when a port is taken).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import httpx
import yaml

from sidecar.config import ConfigError, load_settings
from sidecar.demo.model import (
    CATEGORICAL,
    LABEL,
    PREDICTION,
    SCORE,
    SENSITIVE,
    reference_columns,
    training_data,
)
from sidecar.demo.server import build_model_app, model_server
from sidecar.demo.traffic import TrafficGenerator, TrafficOptions
from sidecar.demo.view import (
    API_ENDPOINTS,
    Buckets,
    ViewState,
    drift_lines,
    histogram_quantile,
    read_histogram,
    render_plain,
    render_table,
    subtract,
)
from sidecar.logs import configure_logging
from sidecar.reference.builder import ProfileBuilder
from sidecar.reference.profile import save_reference
from sidecar.server import SidecarProcess, bind_socket

DEFAULT_RATE = 50.0
DEFAULT_SHIFT_AFTER = 30.0
DEFAULT_PORT = 8000
DEFAULT_ADMIN_PORT = 9464
DEFAULT_MODEL_PORT = 8080
DEFAULT_WINDOW_SECONDS = 10
DEFAULT_ROLLING_WINDOWS = 2
DEFAULT_REFRESH = 2.0
DEFAULT_PLAIN_EVERY = 5.0
DEFAULT_VIEW_WINDOW = "current"
HOST = "127.0.0.1"
DEMO_CONFIG: dict[str, Any] = {
    "drift": {
        "method": "psi",
        "threshold": 0.2,
        "categorical_method": "js",
        "categorical_threshold": 0.2,
    },
    "performance": {"task": "classification", "min_count": 50},
    "fairness": {"attributes": [SENSITIVE], "favourable": 1, "min_group_size": 30},
    # The pre-shift world has a built-in parity gap of ~0.11 (group B's income is 0.9x), right
    # at the default 0.1 bound, so noise alone flipped the signal; the demo's bound sits above.
    "status": {"fairness_gap_warning": 0.2, "fairness_gap_critical": 0.3},
}
"""The demo's config file sections (see module docstring for why these thresholds)."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `demo` sub-command."""
    parser = subparsers.add_parser(
        "demo",
        help="run a toy model, the sidecar and drifting traffic, and watch the drift appear",
        description="Start a built-in model server (KServe v1 and Open Inference v2), the "
        "sidecar in front of it with a reference profile of the training data, and a traffic "
        "generator that shifts two features and one group's outcomes after --shift-after "
        "seconds. Needs no network. Ctrl-C stops everything.",
    )
    number = parser.add_argument
    number("--duration", type=float, default=None, help="seconds to run (default: until Ctrl-C)")
    number("--rate", type=float, default=DEFAULT_RATE, help="requests per second (default 50)")
    number(
        "--shift-after", type=float, default=DEFAULT_SHIFT_AFTER, help="seconds before the shift"
    )
    number("--port", type=int, default=DEFAULT_PORT, help="proxy port (default 8000)")
    number("--admin-port", type=int, default=DEFAULT_ADMIN_PORT, help="admin port (default 9464)")
    number("--model-port", type=int, default=DEFAULT_MODEL_PORT, help="model port (default 8080)")
    number(
        "--window-seconds",
        type=int,
        default=DEFAULT_WINDOW_SECONDS,
        help="analysis window length (default 10, so drift shows up fast)",
    )
    number(
        "--no-tty",
        action="store_true",
        help="print plain summaries instead of a live table (the default when stdout is not a "
        "terminal, e.g. `sidecar demo > demo.log`)",
    )
    parser.set_defaults(handler=run)


def write_demo_files(directory: Path) -> tuple[Path, Path]:
    """Train the model's data, write the reference profile and the config file; (ref, config)."""
    batch, model = training_data()
    builder = ProfileBuilder(
        categorical=[*CATEGORICAL, SENSITIVE, PREDICTION],
        target=LABEL,
        prediction=PREDICTION,
        probability=[SCORE],
    )
    builder.add(reference_columns(batch, model))
    reference = directory / "reference.json"
    save_reference(builder.build(), reference)
    config = directory / "sidecar.yaml"
    config.write_text(yaml.safe_dump(DEMO_CONFIG), encoding="utf-8")
    return reference, config


@contextlib.contextmanager
def running_model(port: int) -> Iterator[str]:
    """The toy model server in a thread; yields its URL."""
    _, model = training_data()
    server = model_server(build_model_app(model), HOST, port)
    sock = bind_socket(HOST, port)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started and thread.is_alive():
            time.sleep(0.01)
        yield f"http://{HOST}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@contextlib.contextmanager
def running_sidecar(
    args: argparse.Namespace, upstream: str, workdir: Path
) -> Iterator[tuple[str, str]]:
    """The sidecar in a thread; yields (proxy URL, admin URL)."""
    reference, config = write_demo_files(workdir)
    flags = {
        "upstream": upstream,
        "host": HOST,
        "port": args.port,
        "admin_host": HOST,
        "admin_port": args.admin_port,
        "reference": str(reference),
        "config": str(config),
        "window_seconds": args.window_seconds,
        "rolling_windows": DEFAULT_ROLLING_WINDOWS,
        "upstream_health_path": "/v2/health/ready",
        "log_level": "warning",
    }
    process = SidecarProcess(load_settings(flags, environ={}))
    thread = threading.Thread(target=lambda: asyncio.run(process.serve()), daemon=True)
    thread.start()
    try:
        while not process.started.wait(0.05) and thread.is_alive():
            pass
        proxy_port, admin_port = process.bound_ports
        yield f"http://{HOST}:{proxy_port}", f"http://{HOST}:{admin_port}"
    finally:
        process.stop()
        thread.join(30)


class AdminPoller:
    """Reads the admin port for the view; remembers the last histogram for rates."""

    def __init__(self, admin: str, window: str = DEFAULT_VIEW_WINDOW) -> None:
        self.admin = admin
        self.window = window
        self._last: tuple[float, Buckets] | None = None

    async def _get(self, session: httpx.AsyncClient, path: str) -> Any:
        try:
            response = await session.get(self.admin + path)
            if response.status_code != 200:
                return None
            return response.text if path == "/metrics" else response.json()
        except (httpx.HTTPError, TimeoutError, ValueError):
            return None

    async def poll(self, session: httpx.AsyncClient, traffic: TrafficGenerator) -> ViewState:
        """One refresh: metrics and every API endpoint, read concurrently."""
        shifted, elapsed = traffic.shifted, traffic.elapsed()
        paths = ["/metrics"] + [f"/api/v1/{name}?window={self.window}" for name in API_ENDPOINTS]
        results = await asyncio.gather(*(self._get(session, p) for p in paths))
        now = time.monotonic()
        rps = p50 = p99 = None
        if isinstance(results[0], str):
            buckets = read_histogram(results[0])
            if self._last is not None and now > self._last[0]:
                delta = subtract(buckets, self._last[1])
                rps = (delta[-1][1] if delta else 0.0) / (now - self._last[0])
                p50, p99 = histogram_quantile(0.5, delta), histogram_quantile(0.99, delta)
            self._last = (now, buckets)
        api = dict(zip(API_ENDPOINTS, results[1:], strict=True))
        return ViewState(
            elapsed, shifted, rps, p50, p99, self.window, drift_lines(api["drift"]), api
        )


def plain_output(args: argparse.Namespace, stream: TextIO) -> bool:
    """Plain lines (no ANSI escapes) when asked, or when the output is not a terminal."""
    return bool(args.no_tty) or not stream.isatty()


async def _show(
    args: argparse.Namespace, proxy: str, admin: str, urls: list[str], stop: asyncio.Event
) -> None:
    """Run traffic and the view until `stop`."""
    traffic = TrafficGenerator(
        TrafficOptions(target=proxy, admin=admin, rate=args.rate, shift_after=args.shift_after)
    )
    sender = asyncio.ensure_future(traffic.run(stop))
    poller = AdminPoller(admin)
    plain = plain_output(args, sys.stdout)
    every = DEFAULT_PLAIN_EVERY if plain else DEFAULT_REFRESH
    async with httpx.AsyncClient(timeout=5) as session:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
            state = await poller.poll(session, traffic)
            text = render_plain(state) if plain else render_table(state, urls)
            sys.stdout.write(text)
            sys.stdout.flush()
    stats = await sender
    print(f"traffic: {stats.line()}", flush=True)


async def _main(args: argparse.Namespace, proxy: str, admin: str, urls: list[str]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if args.duration is not None:
        loop.call_later(args.duration, stop.set)
    try:
        await _show(args, proxy, admin, urls, stop)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def run(args: argparse.Namespace) -> int:
    """Run the demo; returns the exit status."""
    for name in ("port", "admin_port", "model_port"):
        if not 0 <= getattr(args, name) <= 65535:
            print(
                f"sidecar demo: --{name.replace('_', '-')}={getattr(args, name)} is not a port",
                file=sys.stderr,
            )
            return 2
    if not args.rate > 0 or args.window_seconds < 1:
        print(
            f"sidecar demo: --rate={args.rate} and --window-seconds={args.window_seconds} "
            "must be > 0",
            file=sys.stderr,
        )
        return 2
    configure_logging("text", "warning")
    with contextlib.ExitStack() as stack:
        try:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sidecar-demo-")))
            model = stack.enter_context(running_model(args.model_port))
            proxy, admin = stack.enter_context(running_sidecar(args, model, workdir))
        except OSError as exc:  # ListenError names the address and the port
            print(
                f"sidecar demo: {exc.strerror or exc}; choose free ports with --port, "
                "--admin-port and --model-port (0 picks one)",
                file=sys.stderr,
            )
            return 1
        except ConfigError as exc:
            print(f"sidecar demo: {exc}", file=sys.stderr)
            return 2
        urls = [
            f"model server: {model}  (v1 /v1/models/credit:predict, v2 /v2/models/credit/infer)",
            f"proxy:        {proxy}",
            f"page:         {admin}/  (drift, quality and performance over time)",
            f"metrics:      {admin}/metrics",
            f"API:          {admin}/api/v1/drift  (also /quality /performance /fairness /status)",
        ]
        print("\n".join(urls), flush=True)
        asyncio.run(_main(args, proxy, admin, urls))
    print("demo stopped", flush=True)
    return 0
