"""CPU per request of each piece the sidecar adds on the proxied path, in-process (issue 15).

No sockets and no load generator: every piece runs in a loop on realistic inputs (the scope
uvicorn builds for wrk's KServe POST, the nginx upstream's answer). The `exchange` rows drive a
whole `Forwarder` call over a fake upstream connection that answers at once (what our Python
costs per request, without uvicorn and without I/O), beside the floor's forward on the same
fake. Each row is measured one of two ways:
- `time.process_time`, best of `--repeat` runs (default; noisy on a shared machine);
- `--callgrind`: instructions per request counted by valgrind's callgrind around each row's
  loop only (counters zeroed before it, dumped after), repeatable whatever else runs; about a
  minute for the default 2,000 loops.

    .venv/bin/python bench/hotpath_bench.py                # about 20 s
    .venv/bin/python bench/hotpath_bench.py --callgrind    # needs valgrind
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from inspect import signature
from pathlib import Path
from typing import Any

from sidecar.capture import Capture, Sampler, SamplingPolicy
from sidecar.export.telemetry import DURATION_BUCKETS, HttpMetrics, Telemetry
from sidecar.proxy.answers import mint_request_id
from sidecar.proxy.asgi import Message, RawHeaders, Scope
from sidecar.proxy.forwarder import Forwarder, ProxySettings
from sidecar.proxy.headers import encode_head, framing, upstream_request_headers
from sidecar.signals.traffic import RequestStats

BODY = b'{"instances": [[' + b", ".join(b"0.%06d" % (i * 37) for i in range(20)) + b"]]}"
ANSWER = b'{"predictions": [0.5]}'
HEADERS: RawHeaders = [
    (b"host", b"127.0.0.1:8002"),
    (b"content-length", str(len(BODY)).encode()),
    (b"content-type", b"application/json"),
]
UPSTREAM_HEADERS: RawHeaders = [
    (b"server", b"nginx/1.22.1"),
    (b"date", b"Wed, 02 Dec 2026 06:50:00 GMT"),
    (b"content-type", b"application/json"),
    (b"content-length", str(len(ANSWER)).encode()),
    (b"connection", b"keep-alive"),
]
FLOOR_DROP = frozenset({b"connection", b"transfer-encoding", b"keep-alive"})
"""The headers `bench/floor_proxy.py` drops."""

Case = Callable[[int], None]
"""Runs one piece `n` times."""


def scope() -> Scope:
    """The scope uvicorn hands over for wrk's POST."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8002),
        "client": ("127.0.0.1", 40000),
        "scheme": "http",
        "method": "POST",
        "root_path": "",
        "path": "/v1/models/m:predict",
        "raw_path": b"/v1/models/m:predict",
        "query_string": b"",
        "headers": list(HEADERS),
        "state": {},
    }


class FakeConnection:
    """An upstream connection whose answer is already complete when the request is written."""

    reused = True
    has_watched = False
    complete = True
    length = len(ANSWER)
    status = 200

    def begin(self, data: bytes, no_body: bool) -> None:
        self.headers = list(UPSTREAM_HEADERS)

    async def wait_head(self) -> None:
        return None

    async def read_all(self) -> bytes:
        return ANSWER


class FakePool:
    """`Pool`'s acquire/release over one `FakeConnection`."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self.conn = FakeConnection()

    async def acquire(self) -> FakeConnection:
        return self.conn

    def release(self, conn: FakeConnection) -> None:
        return None


async def _receive() -> Message:
    return {"type": "http.request", "body": BODY, "more_body": False}


async def _send(message: Message) -> None:
    return None


def _repeat(call: Callable[[], object]) -> Case:
    def case(n: int) -> None:
        for _ in range(n):
            call()

    return case


def _awaited(make: Callable[[], Coroutine[Any, Any, None]]) -> Case:
    loop = asyncio.new_event_loop()

    async def many(n: int) -> None:
        for _ in range(n):
            await make()

    return lambda n: loop.run_until_complete(many(n))


def _rewrite() -> None:
    headers = scope()["headers"]
    out = upstream_request_headers(headers, "127.0.0.1", "http", None, frozenset(), b"u:80")
    out.append((b"x-request-id", b"0123456789abcdef0123456789abcdef"))
    encode_head("POST", b"/v1/models/m:predict", out)


def _floor_rewrite() -> None:
    out = [h for h in scope()["headers"] if h[0] not in FLOOR_DROP]
    encode_head("POST", b"/v1/models/m:predict", out)


def _capture(rate: float) -> Case:
    capture = Capture(Sampler(SamplingPolicy(rate)), queue_size=1 << 30)
    s = scope()
    # As the exchange calls it: with the Content-Length it parsed (older code: without).
    if "length" in signature(Capture.begin).parameters:
        begin = lambda: capture.begin(s, "0123456789abcdef", 1.0e9, len(BODY))  # noqa: E731
    else:
        begin = lambda: capture.begin(s, "0123456789abcdef", 1.0e9)  # noqa: E731

    def tapped() -> None:
        tap = begin()
        if tap is not None:
            tap.request_chunk(BODY)
            tap.response_start(200, UPSTREAM_HEADERS)
            tap.response_chunk(ANSWER)
            tap.finish(200, 0.001, 0.0009, True)
            capture.queue.clear()  # as the analysis thread takes them: nothing piles up

    return _repeat(tapped)


def _metrics() -> Case:
    metrics = HttpMetrics(Telemetry.create(environ={}), RequestStats(DURATION_BUCKETS))

    def record() -> None:
        metrics.started("POST")
        metrics.record("POST", "/v1/models/m:predict", 200, 0.0012, 0.0009, 300, 22, None)

    def case(n: int) -> None:
        _repeat(record)(n)
        if hasattr(metrics, "flush"):  # older code counts at once
            metrics.flush()  # what is still pending is counted in this row too

    return case


def _forwarder(rate: float | None) -> Case:
    settings = ProxySettings("http://127.0.0.1:8080")
    if rate is None:
        forwarder = Forwarder(settings)
    else:
        capture = Capture(Sampler(SamplingPolicy(rate)), queue_size=1 << 30)
        metrics = HttpMetrics(Telemetry.create(environ={}), RequestStats(DURATION_BUCKETS))
        forwarder = Forwarder(settings, metrics, capture)
    forwarder.route.pool = FakePool(forwarder.pool.target)  # type: ignore[assignment]
    if rate is None:
        return _awaited(lambda: forwarder(scope(), _receive, _send))
    queue = capture.queue

    async def call() -> None:
        await forwarder(scope(), _receive, _send)
        queue.clear()  # as the analysis thread takes them: nothing piles up

    return _awaited(call)


def _floor() -> Case:
    pool = FakePool(None)

    async def forward() -> None:
        s = scope()
        body = (await _receive())["body"]
        conn = await pool.acquire()
        out = [(k, v) for k, v in s["headers"] if k not in FLOOR_DROP]
        conn.begin(encode_head(s["method"], s["raw_path"], out) + body, False)
        await conn.wait_head()
        answer = await conn.read_all()
        pool.release(conn)
        await _send({"type": "http.response.start", "status": 200, "headers": conn.headers})
        await _send({"type": "http.response.body", "body": answer})

    return _awaited(forward)


def cases(only: str = "") -> dict[str, Case]:
    """Every row (or those whose name contains `only`): its name and what runs it `n` times."""
    rows: dict[str, Callable[[], Case]] = {
        "request id": lambda: _repeat(mint_request_id),
        "framing": lambda: _repeat(lambda: framing(HEADERS, b"x-request-id")),
        "header rewrite + head": lambda: _repeat(_rewrite),
        "  (floor: filter + head)": lambda: _repeat(_floor_rewrite),
        "capture, sample rate 0": lambda: _capture(0.0),
        "capture, sample rate 1": lambda: _capture(1.0),
        "metrics started + record": _metrics,
        "exchange, monitoring, sample rate 0": lambda: _forwarder(0.0),
        "  sample rate 1": lambda: _forwarder(1.0),
        "exchange, no monitoring": lambda: _forwarder(None),
        "floor forward (bench/floor_proxy.py)": _floor,
    }
    return {name: build() for name, build in rows.items() if only in name}


def timed(loops: int, repeat: int, only: str) -> dict[str, float]:
    """Microseconds of CPU per call of each row, best of `repeat` runs of `loops` calls."""
    figures = {}
    for name, case in cases(only).items():
        case(min(loops, 1000))  # warm caches and lazily built state
        times = []
        for _ in range(repeat):
            start = time.process_time()
            case(loops)
            times.append(time.process_time() - start)
        figures[name] = min(times) / loops * 1e6
    return figures


def _wait_for(path: Path) -> None:
    # Sleeping, not blocking on a pipe: valgrind only takes commands while the program runs.
    while not path.exists():
        time.sleep(0.005)
    path.unlink()


def serve(loops: int, flag: Path, only: str) -> None:
    """Under callgrind: run each row between a "zero" and a "dump" handshake (`flag` file)."""
    for name, case in cases(only).items():
        case(min(loops, 200))
        print(f"zero {name}", flush=True)
        _wait_for(flag)
        case(loops)
        print(f"dump {name}", flush=True)
        _wait_for(flag)
    print("end", flush=True)


def counted(loops: int, only: str) -> dict[str, float]:
    """Instructions per call of each row, counted by callgrind around its loop only."""
    with tempfile.TemporaryDirectory() as tmp:
        out, flag = Path(tmp) / "callgrind.out", Path(tmp) / "go"
        command = ["valgrind", "-q", "--tool=callgrind", f"--callgrind-out-file={out}"]
        command += [sys.executable, __file__, "--serve", str(flag), "--loops", str(loops)]
        command += ["--rows", only]
        child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None
        figures: dict[str, float] = {}
        for line in child.stdout:
            verb, _, name = line.rstrip("\n").partition(" ")
            if verb == "end":
                break
            action = "--zero" if verb == "zero" else "--dump"
            control = ["callgrind_control", action, str(child.pid)]
            subprocess.run(control, check=True, capture_output=True)
            if verb == "dump":
                figures[name] = _dumped(Path(tmp)) / loops
            flag.touch()
        child.wait(timeout=60)
    return figures


def _dumped(folder: Path) -> int:
    """The instruction total of the one dump file in `folder` (waited for), removed after."""
    while not (dumps := list(folder.glob("callgrind.out.*"))):
        time.sleep(0.05)
    text = ""
    while "\ntotals:" not in text and "\nsummary:" not in text:
        time.sleep(0.05)
        text = dumps[0].read_text()
    dumps[0].unlink()
    found = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
    return int(found.group(1)) if found else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loops", type=int, help="calls per row (50,000; 2,000 with --callgrind)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--callgrind", action="store_true", help="count instructions instead")
    parser.add_argument("--rows", default="", help="only the rows whose name contains this")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.loops, args.serve, args.rows)
        return
    if args.callgrind:
        loops = args.loops or 2_000
        print(f"instructions per request (callgrind, {loops:,} loops per row)")
        for name, value in counted(loops, args.rows).items():
            print(f"  {name:<40} {value:10,.0f}")
        return
    loops = args.loops or 50_000
    print(f"CPU per request, us (best of {args.repeat} x {loops:,} loops)")
    for name, value in timed(loops, args.repeat, args.rows).items():
        print(f"  {name:<40} {value:7.2f}")


if __name__ == "__main__":
    main()
