"""Proxy benchmark (issues 2 and 15): the sidecar against nginx proxy_pass, in one run.

What runs, all bound to 127.0.0.1:
- upstream: nginx answering `return 200` with a fixed JSON body, so it is never the bottleneck;
  pinned with the load generator (core 1) so the proxy under test has core 0 to itself;
- reference proxy: nginx `proxy_pass` to a keep-alive upstream pool, one worker, core 0;
- sidecar: `python -m sidecar run` (uvloop + httptools, monitoring on: sample rate 1), core 0;
  the same with sampling off (`nosample`, the capture-cost baseline of issue 3);
- floors, `bench/floor_proxy.py` on core 0, no monitoring, no checks: `floor` the cheapest raw-ASGI
  forwarder on uvicorn with the sidecar's own upstream client (what the stack alone costs),
  `noasgi` the same client behind a bare `asyncio.Protocol` server (so floor vs noasgi is what
  ASGI costs) and `aiohttp` the ASGI forwarder with an aiohttp client (the floor before issue 15);
- load: `wrk -t1` on core 1 POSTing a 20-feature KServe v1 body to /v1/models/m:predict; latency
  at a fixed rate comes from an open-loop paced client (this script, `--paced-client`) on core 1.

Bars checked (PASS/FAIL printed with the ratios):
1. throughput at c=16 >= 25% of nginx measured in the same run, and >= 4,000 req/s;
2. no collapse: throughput at c=64 >= 90% of throughput at c=16;
3. added latency at a fixed 500 req/s: p50 <= 0.5 ms and p99 <= 2 ms over direct;
4. capture cost: sampling 1.0 >= 90% of the throughput of sampling 0.0;
5. proxy CPU per request (process utime+stime / requests, saturated runs) <= 0.10 ms.

Every wait has a deadline, every child process is stopped on exit or Ctrl-C, and memory is bounded
by the paced client's latency list (rate x seconds floats).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DEFAULT_RATE = 500
DEFAULT_FEATURES = 20
DEFAULT_PATH = "/v1/models/m:predict"
DEFAULT_RESPONSE = '{"predictions": [0.5]}'
DEFAULT_PACED_CONNECTIONS = 16
DEFAULT_STARTUP_SECONDS = 30.0
DEFAULT_REQUEST_TIMEOUT = 5.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

BAR_NGINX_SHARE = 0.25
BAR_MIN_RPS = 4000.0
BAR_NO_COLLAPSE = 0.90
BAR_ADDED_P50_MS = 0.5
BAR_ADDED_P99_MS = 2.0
BAR_CPU_MS = 0.10
BAR_CAPTURE_SHARE = 0.90
"""Issue 3: throughput with sampling 1.0 at least 90% of the same sidecar with sampling 0.0."""


def request_body(features: int = DEFAULT_FEATURES) -> bytes:
    """The POSTed payload: one KServe v1 instance of seeded random floats."""
    rng = random.Random(2)
    row = ", ".join(f"{rng.gauss(0.0, 1.0):.6f}" for _ in range(features))
    return f'{{"instances": [[{row}]]}}'.encode()


# ---------------------------------------------------------------- processes and the OS


def free_ports(count: int) -> list[int]:
    """`count` distinct free TCP ports on 127.0.0.1 (held open together so none repeats)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes (all their threads), from /proc."""
    total = 0
    for pid in pids:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / CLOCK_TICKS


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (nginx master and its worker)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(stat[1])
    found = [pid]
    for child, parent in sorted(parents.items()):
        if parent in found:
            found.append(child)
    return found


@dataclass
class Processes:
    """Child processes started by this benchmark; `stop()` ends each, by its own id."""

    workdir: Path
    started: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, command: list[str], env: dict[str, str] | None = None) -> int:
        """Start `command` in its own session, stderr/stdout to `<workdir>/<name>.log`."""
        with (self.workdir / f"{name}.log").open("wb") as log:
            child = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        self.started.append((name, child))
        return child.pid

    def check(self) -> None:
        """Raise if a child has exited, with the end of its log."""
        for name, child in self.started:
            if child.poll() is not None:
                tail = (self.workdir / f"{name}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} exited with {child.returncode}:\n{tail}")

    def stop(self) -> None:
        """SIGTERM every child (its process group), then SIGKILL what is left after 5 s."""
        for _, child in self.started:
            if child.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5.0
        for _, child in self.started:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                child.wait(timeout=5.0)
        self.started.clear()


def nginx_conf(workdir: Path, name: str, port: int, body: str) -> Path:
    """A one-worker foreground nginx config: `return 200` if `body`, else proxy_pass to it."""
    temp = "\n".join(
        f"  {kind}_temp_path {workdir}/{name}-{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    if body.startswith("http://"):
        upstream = f"upstream model {{ server {body.removeprefix('http://')}; keepalive 64; }}"
        location = (
            'proxy_pass http://model; proxy_http_version 1.1; proxy_set_header Connection "";'
        )
    else:
        upstream = ""
        location = f"default_type application/json; return 200 '{body}';"
    text = f"""daemon off;
worker_processes 1;
pid {workdir}/{name}.pid;
error_log {workdir}/{name}-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
{temp}
  {upstream}
  server {{
    listen 127.0.0.1:{port};
    keepalive_requests 10000000;
    location / {{ {location} }}
  }}
}}
"""
    path = workdir / f"{name}.conf"
    path.write_text(text)
    return path


def wait_ready(url: str, processes: Processes, body: bytes | None, seconds: float) -> None:
    """Poll `url` until it answers 200 (POST when `body` is given), or raise after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        processes.check()
        try:
            request = urllib.request.Request(url, data=body, method="POST" if body else "GET")
            request.add_header("Content-Type", "application/json")
            with urllib.request.urlopen(request, timeout=2.0) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer 200 within {seconds:g} s")
        time.sleep(0.1)


# ---------------------------------------------------------------- load: wrk


WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = [==[%s]==]
wrk.headers["Content-Type"] = "application/json"
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %%d, "duration_us": %%d, "connect": %%d, "read": %%d, ' ..
    '"write": %%d, "status": %%d, "timeout": %%d, "p50_us": %%d, "p99_us": %%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class LoadResult:
    """One wrk run: successful requests per second, latency, errors and the proxy's CPU."""

    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    cpu_seconds: float

    @property
    def rps(self) -> float:
        """Successful responses per second."""
        return (self.requests - self.errors) / self.seconds


def run_wrk(url: str, connections: int, seconds: int, lua: Path, cpu: str) -> dict[str, int]:
    """One `wrk -t1` run pinned to `cpu`; the summary printed by the Lua `done` hook."""
    command = ["taskset", "-c", cpu, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
    command += ["--timeout", f"{DEFAULT_REQUEST_TIMEOUT:g}s", "-s", str(lua), url]
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            summary: dict[str, int] = json.loads(line.removeprefix("WRK_JSON "))
            return summary
    raise RuntimeError(f"wrk printed no summary (exit {out.returncode}): {out.stderr[-500:]}")


def measure_load(
    url: str, connections: int, seconds: int, warmup: int, args: argparse.Namespace, pids: list[int]
) -> LoadResult:
    """A warm-up run, then a measured run with the CPU time of `pids` read around it."""
    if warmup:
        run_wrk(url, connections, warmup, args.lua, args.load_cpu)
    before = cpu_seconds(pids)
    summary = run_wrk(url, connections, seconds, args.lua, args.load_cpu)
    used = cpu_seconds(pids) - before
    errors = sum(summary[k] for k in ("connect", "read", "write", "status", "timeout"))
    return LoadResult(
        requests=summary["requests"],
        seconds=summary["duration_us"] / 1e6,
        errors=errors,
        p50_ms=summary["p50_us"] / 1e3,
        p99_ms=summary["p99_us"] / 1e3,
        cpu_seconds=used,
    )


# ---------------------------------------------------------------- load: the paced client


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one HTTP/1.1 response; (status, whether the connection may be reused)."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip().lower()
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            await reader.readexactly(size + 2)
        while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers end with an empty line
            pass
    else:
        raise ValueError(f"response without a length (status {status})")
    return status, headers.get("connection") != "close"


class PacedClient:
    """Open-loop load at a fixed rate: requests go out on schedule whether or not answers came.

    Latency runs from the moment a request was due and the pacer woke for it (waiting for a free
    connection counts; the pacer's own timer slop, ~1 ms granularity, does not) to the last byte.
    """

    def __init__(self, url: str, connections: int) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        body = request_body()
        self.request = (
            f"POST {parts.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        self.connections = connections
        self.pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]]
        self.latencies: list[float] = []
        self.lateness: list[float] = []
        self.errors = 0

    async def _connect(self) -> None:
        self.pool.put_nowait(await asyncio.open_connection(self.host, self.port))

    async def _one(self, ready: float, record: bool) -> None:
        reader, writer = await self.pool.get()
        try:
            writer.write(self.request)
            status, keep = await asyncio.wait_for(read_response(reader), DEFAULT_REQUEST_TIMEOUT)
        except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError):
            status, keep = 0, False
        finished = time.perf_counter()
        if record:
            if status == 200:
                self.latencies.append(finished - ready)
            else:
                self.errors += 1
        if keep:
            self.pool.put_nowait((reader, writer))
        else:
            writer.close()
            await self._connect()

    async def run(self, rate: float, seconds: float, warmup: float) -> dict[str, Any]:
        """Send `rate` requests/s for `warmup` (not recorded) then `seconds`; a summary."""
        self.pool = asyncio.Queue()
        for _ in range(self.connections):
            await self._connect()
        skip, total = int(rate * warmup), int(rate * (warmup + seconds))
        tasks: set[asyncio.Task[None]] = set()
        start = time.perf_counter() + 0.01
        for i in range(total):
            due = start + i / rate
            if (delay := due - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            ready = time.perf_counter()
            if i >= skip:
                self.lateness.append(ready - due)
            task = asyncio.create_task(self._one(ready, record=i >= skip))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.wait_for(asyncio.gather(*tasks), DEFAULT_REQUEST_TIMEOUT * 2)
        return self.summary(seconds)

    def summary(self, seconds: float) -> dict[str, Any]:
        """Latency percentiles in ms, errors, and how late the pacer was (p99, ms)."""
        import numpy as np

        ms = np.asarray(self.latencies) * 1e3 if self.latencies else np.zeros(1)
        p50, p90, p99, p999 = np.percentile(ms, [50, 90, 99, 99.9])
        return {
            "requests": len(self.latencies),
            "errors": self.errors,
            "rate": len(self.latencies) / seconds,
            "p50_ms": float(p50),
            "p90_ms": float(p90),
            "p99_ms": float(p99),
            "p999_ms": float(p999),
            "max_ms": float(ms.max()),
            "late_p99_ms": float(np.percentile(np.asarray(self.lateness) * 1e3, 99)),
        }


def paced_client_main(args: argparse.Namespace) -> int:
    """Entry of `--paced-client URL`: run the paced load, print one JSON line."""
    client = PacedClient(args.paced_client, DEFAULT_PACED_CONNECTIONS)
    run = client.run(args.rate, args.paced_seconds, args.paced_warmup)
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(run)
    else:
        result = uvloop.run(run)
    print(json.dumps(result))
    return 0


def measure_paced(url: str, args: argparse.Namespace, pids: list[int]) -> dict[str, Any]:
    """Run the paced client pinned to the load core; its summary plus the proxy's CPU."""
    command = ["taskset", "-c", args.load_cpu, sys.executable, __file__, "--paced-client", url]
    command += ["--rate", str(args.rate), "--paced-seconds", str(args.paced_seconds)]
    command += ["--paced-warmup", str(args.paced_warmup)]
    before = cpu_seconds(pids)
    limit = args.paced_seconds + args.paced_warmup + 60
    out = subprocess.run(command, capture_output=True, text=True, timeout=limit, check=False)
    used = cpu_seconds(pids) - before
    if out.returncode != 0:
        raise RuntimeError(f"paced client failed: {out.stderr[-1000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    sent = args.rate * (args.paced_seconds + args.paced_warmup)
    result["cpu_ms_per_request"] = used / sent * 1e3 if pids else None
    return result


# ---------------------------------------------------------------- the run


@dataclass
class Target:
    """Something wrk can load: its URL and the processes whose CPU time is its cost."""

    name: str
    url: str
    pids: list[int]


def start_targets(args: argparse.Namespace, processes: Processes, workdir: Path) -> list[Target]:
    """Start the upstream, nginx proxy_pass and the sidecar; wait until each answers."""
    up, ref, side, admin, bare, bare_admin, low, raw, old = free_ports(9)
    pin = ["taskset", "-c"]
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    conf = nginx_conf(workdir, "upstream", up, DEFAULT_RESPONSE)
    pid = processes.start(
        "upstream", [*pin, args.upstream_cpu, nginx, "-c", str(conf), "-p", str(workdir)]
    )
    direct = Target("direct", f"http://127.0.0.1:{up}{DEFAULT_PATH}", [])
    conf = nginx_conf(workdir, "nginx", ref, f"http://127.0.0.1:{up}")
    pid = processes.start(
        "nginx", [*pin, args.proxy_cpu, nginx, "-c", str(conf), "-p", str(workdir)]
    )
    reference = Target("nginx", f"http://127.0.0.1:{ref}{DEFAULT_PATH}", [pid])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIDECAR_", "OTEL_"))}
    command = [*pin, args.proxy_cpu, sys.executable, "-m", "sidecar", "run"]
    command += ["--upstream", f"http://127.0.0.1:{up}", "--host", "127.0.0.1"]
    command += ["--port", str(side), "--admin-port", str(admin), "--log-level", "warning"]
    command += ["--sample-rate", f"{args.sample_rate:g}"]
    pid = processes.start("sidecar", command, env)
    sidecar = Target("sidecar", f"http://127.0.0.1:{side}{DEFAULT_PATH}", [pid])
    # The same sidecar with sampling off: the capture-cost baseline of issue 3.
    command = [*pin, args.proxy_cpu, sys.executable, "-m", "sidecar", "run"]
    command += ["--upstream", f"http://127.0.0.1:{up}", "--host", "127.0.0.1"]
    command += ["--port", str(bare), "--admin-port", str(bare_admin), "--log-level", "warning"]
    command += ["--sample-rate", "0"]
    pid = processes.start("nosample", command, env)
    unsampled = Target("nosample", f"http://127.0.0.1:{bare}{DEFAULT_PATH}", [pid])
    # The cheapest forwarders: the same stack, the same client without ASGI, the aiohttp floor.
    floors = []
    for name, stack, port in (
        ("floor", "lean", low),
        ("noasgi", "raw", raw),
        ("aiohttp", "aiohttp", old),
    ):
        command = [
            *pin,
            args.proxy_cpu,
            sys.executable,
            str(Path(__file__).with_name("floor_proxy.py")),
        ]
        command += ["--upstream", f"http://127.0.0.1:{up}", "--port", str(port), "--stack", stack]
        pid = processes.start(name, command, env)
        floors.append(Target(name, f"http://127.0.0.1:{port}{DEFAULT_PATH}", [pid]))
    body = request_body()
    for target in (direct, reference, *floors):
        wait_ready(target.url, processes, body, DEFAULT_STARTUP_SECONDS)
    wait_ready(f"http://127.0.0.1:{admin}/readyz", processes, None, DEFAULT_STARTUP_SECONDS)
    wait_ready(sidecar.url, processes, body, DEFAULT_STARTUP_SECONDS)
    wait_ready(unsampled.url, processes, body, DEFAULT_STARTUP_SECONDS)
    reference.pids = descendants(reference.pids[0])
    return [direct, reference, sidecar, unsampled, *floors]


LOADS = (
    ("direct", 16),
    ("nginx", 16),
    ("nginx", 64),
    ("floor", 16),
    ("noasgi", 16),
    ("aiohttp", 16),
    ("nosample", 16),
    ("sidecar", 16),
    ("sidecar", 64),
    ("sidecar", 16),
    ("nosample", 16),
)
"""The order of one round. The runs whose ratios are bars sit in one A-B-C-B-A block (sampling
off, sampling on c=16, c=64, c=16, off), which every rotation of the first five keeps whole:
each side of both ratios is then centred on the same moment, so drift over the round (this
machine's speed moves by up to 25% within minutes) cancels instead of favouring whichever ran
first."""

PACED = ("direct", "nginx", "floor", "nosample", "sidecar")
"""The targets measured at the fixed rate, in this order."""

Rounds = list[dict[tuple[str, int], list["LoadResult"]]]


def measure_all(
    args: argparse.Namespace, targets: dict[str, Target], processes: Processes
) -> tuple[Rounds, dict[str, dict[str, Any]]]:
    """Every wrk configuration `rounds` times (order rotated each round), then the paced runs."""
    rounds: Rounds = []
    for round_index in range(args.rounds):
        order = LOADS[round_index % len(LOADS) :] + LOADS[: round_index % len(LOADS)]
        runs: dict[tuple[str, int], list[LoadResult]] = {key: [] for key in LOADS}
        for name, connections in order:
            processes.check()
            target = targets[name]
            result = measure_load(
                target.url, connections, args.duration, args.warmup, args, target.pids
            )
            runs[(name, connections)].append(result)
            print(f"  round {round_index + 1} {name:8} c={connections:<3} {result.rps:9,.0f} req/s")
        rounds.append(runs)
    paced: dict[str, dict[str, Any]] = {}
    # The floor and sampling-off rows say how much of the sidecar's added latency is the stack,
    # how much monitoring and how much sampling.
    for name in PACED:
        processes.check()
        paced[name] = measure_paced(targets[name].url, args, targets[name].pids)
        print(f"  paced  {name:8} {args.rate} req/s   p50 {paced[name]['p50_ms']:.3f} ms")
    return rounds, paced


@dataclass(frozen=True)
class Figures:
    """Median req/s, summed CPU, and the worst errors of one wrk configuration."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_share: float | None
    cpu_ms: float | None


def figures(results: list[LoadResult], has_pids: bool) -> Figures:
    """Median over rounds; CPU per request = total CPU seconds / total successful requests."""
    served = sum(r.requests - r.errors for r in results)
    cpu = sum(r.cpu_seconds for r in results)
    wall = sum(r.seconds for r in results)
    return Figures(
        rps=statistics.median(r.rps for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        errors=sum(r.errors for r in results),
        cpu_share=cpu / wall if has_pids else None,
        cpu_ms=cpu / served * 1e3 if has_pids and served else None,
    )


def _opt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_tables(
    args: argparse.Namespace,
    table: dict[tuple[str, int], Figures],
    paced: dict[str, dict[str, Any]],
) -> None:
    """The throughput table and the fixed-rate latency table."""
    print(
        f"\nthroughput: wrk -t1 on core {args.load_cpu}, {args.rounds} round(s) x {args.duration} s"
    )
    print("target   conns      req/s   p50 ms   p99 ms  errors  proxy CPU  CPU/req ms")
    for (name, connections), f in table.items():
        share = _opt(None if f.cpu_share is None else f.cpu_share * 100, "8.0f")
        print(
            f"{name:8} {connections:5} {f.rps:10,.0f} {f.p50_ms:8.3f} {f.p99_ms:8.3f} "
            f"{f.errors:7} {share:>8}% {_opt(f.cpu_ms, '11.4f'):>11}"
        )
    print(
        f"\nfixed rate: {args.rate:g} req/s open loop for {args.paced_seconds:g} s, "
        f"client on core {args.load_cpu}"
    )
    print(
        "target    p50 ms   p90 ms   p99 ms  p99.9 ms  max ms  errors  +p50 ms  +p99 ms  CPU/req ms"
    )
    base = paced["direct"]
    for name, p in paced.items():
        added = (p["p50_ms"] - base["p50_ms"], p["p99_ms"] - base["p99_ms"])
        print(
            f"{name:8} {p['p50_ms']:8.3f} {p['p90_ms']:8.3f} {p['p99_ms']:8.3f} "
            f"{p['p999_ms']:9.3f} {p['max_ms']:7.2f} {p['errors']:7} {added[0]:8.3f} "
            f"{added[1]:8.3f} {_opt(p['cpu_ms_per_request'], '11.4f'):>11}"
        )
    late = max(p["late_p99_ms"] for p in paced.values())
    print(
        f"(pacer lateness p99 {late:.2f} ms, excluded from latency; waits for a connection count)"
    )


def paired(rounds: Rounds, top: tuple[str, int], bottom: tuple[str, int]) -> float:
    """Median over rounds of mean(top req/s) / mean(bottom req/s) within the round."""
    ratios = []
    for runs in rounds:
        upper = statistics.fmean(r.rps for r in runs[top])
        lower = statistics.fmean(r.rps for r in runs[bottom])
        if lower:
            ratios.append(upper / lower)
    return statistics.median(ratios) if ratios else 0.0


def bars(
    table: dict[tuple[str, int], Figures],
    rounds: Rounds,
    paced: dict[str, dict[str, Any]],
    sample_rate: float,
) -> list[tuple[bool, str]]:
    """The bars of issues 2 and 3: (passed, one line with the figures and the ratio).

    Ratios of two sidecar runs are the median of per-round ratios (`paired`); the nginx share
    is a ratio of medians (an order of magnitude apart, drift does not decide it).
    """
    side16, side64 = table[("sidecar", 16)], table[("sidecar", 64)]
    nginx16, bare16, floor16 = table[("nginx", 16)], table[("nosample", 16)], table[("floor", 16)]
    raw16 = table[("noasgi", 16)]
    share = side16.rps / nginx16.rps if nginx16.rps else 0.0
    floor = floor16.rps / nginx16.rps if nginx16.rps else 0.0
    raw = raw16.rps / nginx16.rps if nginx16.rps else 0.0
    capture = paired(rounds, ("sidecar", 16), ("nosample", 16))
    collapse = paired(rounds, ("sidecar", 64), ("sidecar", 16))
    p50 = paced["sidecar"]["p50_ms"] - paced["direct"]["p50_ms"]
    p99 = paced["sidecar"]["p99_ms"] - paced["direct"]["p99_ms"]
    cpu = side16.cpu_ms if side16.cpu_ms is not None else float("inf")
    clean = side16.errors == 0 and side64.errors == 0 and paced["sidecar"]["errors"] == 0
    return [
        (
            share >= BAR_NGINX_SHARE and side16.rps >= BAR_MIN_RPS and clean,
            f"throughput c=16: sidecar {side16.rps:,.0f} req/s = {share:.1%} of nginx "
            f"{nginx16.rps:,.0f} (bar >= {BAR_NGINX_SHARE:.0%} and >= {BAR_MIN_RPS:,.0f} req/s; "
            f"stack floor {floor16.rps:,.0f} = {floor:.1%}, no ASGI {raw16.rps:,.0f} = {raw:.1%})",
        ),
        (
            collapse >= BAR_NO_COLLAPSE,
            f"no collapse: c=64 {side64.rps:,.0f}, c=16 {side16.rps:,.0f}, paired ratio "
            f"{collapse:.1%} (bar >= {BAR_NO_COLLAPSE:.0%})",
        ),
        (
            p50 <= BAR_ADDED_P50_MS and p99 <= BAR_ADDED_P99_MS,
            f"added latency at fixed rate: p50 +{p50:.3f} ms, p99 +{p99:.3f} ms over direct "
            f"(bars <= {BAR_ADDED_P50_MS:g} ms, <= {BAR_ADDED_P99_MS:g} ms)",
        ),
        (
            capture >= BAR_CAPTURE_SHARE,
            f"capture cost c=16: sample rate {sample_rate:g} {side16.rps:,.0f} req/s, sample "
            f"rate 0 {bare16.rps:,.0f}, paired ratio {capture:.1%} "
            f"(bar >= {BAR_CAPTURE_SHARE:.0%})",
        ),
        (
            cpu <= BAR_CPU_MS,
            f"CPU per request (c=16, sample rate {sample_rate:g}): {cpu:.4f} ms = "
            f"{cpu / BAR_CPU_MS:.0%} of the bar (<= {BAR_CPU_MS:g} ms)",
        ),
    ]


def notes(table: dict[tuple[str, int], Figures]) -> list[str]:
    """Warnings that change how to read the figures (an unsaturated or starved proxy)."""
    out = []
    direct, nginx = table[("direct", 16)], table[("nginx", 16)]
    if nginx.cpu_share is not None and nginx.cpu_share < 0.9 and nginx.cpu_ms:
        out.append(
            f"nginx used {nginx.cpu_share:.0%} of its core (load core limit: direct "
            f"{direct.rps:,.0f} req/s); its one-core capacity from CPU per request would be "
            f"~{1e3 / nginx.cpu_ms:,.0f} req/s, so the ratio to nginx above is an upper bound"
        )
    for connections in (16, 64):
        side = table[("sidecar", connections)]
        if side.cpu_share is not None and side.cpu_share < 0.9:
            out.append(
                f"sidecar c={connections} used only {side.cpu_share:.0%} of its core: other "
                "load on that core (or the load generator) limited it"
            )
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line; `--quick` shortens every run, `--paced-client` is the internal client."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (about 40 s in all)")
    parser.add_argument("--duration", type=int, help="seconds per measured wrk run (default 5)")
    parser.add_argument("--warmup", type=int, help="seconds of wrk warm-up per run (default 1)")
    parser.add_argument("--rounds", type=int, help="rounds of all wrk runs, median (default 5)")
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help="fixed rate, req/s")
    parser.add_argument("--paced-seconds", type=float, help="seconds at the fixed rate (10)")
    parser.add_argument("--paced-warmup", type=float, default=1.0, help=argparse.SUPPRESS)
    parser.add_argument("--proxy-cpu", default="0", help="core of the proxies (default 0)")
    parser.add_argument("--load-cpu", default="1", help="core of wrk and the client (default 1)")
    parser.add_argument("--upstream-cpu", default="1", help="core of the upstream (default 1)")
    parser.add_argument(
        "--sample-rate", type=float, default=1.0, help="sidecar sample rate (default 1: all)"
    )
    parser.add_argument("--json", action="store_true", help="also print every figure as JSON")
    parser.add_argument("--paced-client", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    quick = {"duration": 2, "warmup": 1, "rounds": 1, "paced_seconds": 3.0}
    full = {"duration": 5, "warmup": 1, "rounds": 5, "paced_seconds": 10.0}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.duration < 1 or args.rounds < 1 or args.rate <= 0 or args.paced_seconds <= 0:
        parser.error("--duration and --rounds must be >= 1, --rate and --paced-seconds > 0")
    return args


@contextlib.contextmanager
def stopped_on_signals() -> Iterator[None]:
    """Turn SIGTERM into SystemExit (Ctrl-C already raises) so `finally` blocks run."""

    def _exit(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, _exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def missing_tools() -> list[str]:
    """External programs this benchmark needs and cannot find."""
    return [tool for tool in ("nginx", "wrk", "taskset") if not shutil.which(tool)]


def main(argv: list[str] | None = None) -> int:
    """Start everything, measure, print the tables and the bars; exit 1 if a bar fails."""
    args = parse_args(argv)
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # progress lines show up while runs go on
    if args.paced_client:
        return paced_client_main(args)
    if missing := missing_tools():
        print(
            f"proxy_bench: skipped, not installed: {', '.join(missing)} "
            "(Debian: apt-get install nginx-light wrk util-linux)"
        )
        return 0
    print(f"load average before: {Path('/proc/loadavg').read_text().strip()}")
    with stopped_on_signals(), tempfile.TemporaryDirectory(prefix="proxy-bench-") as tmp:
        workdir = Path(tmp)
        workdir.chmod(0o755)  # nginx workers may run as another user
        args.lua = workdir / "post.lua"
        args.lua.write_text(WRK_SCRIPT % request_body().decode())
        processes = Processes(workdir)
        try:
            targets = {t.name: t for t in start_targets(args, processes, workdir)}
            rounds, paced = measure_all(args, targets, processes)
        finally:
            processes.stop()
    loads = {key: [r for runs in rounds for r in runs[key]] for key in dict.fromkeys(LOADS)}
    table = {key: figures(results, bool(targets[key[0]].pids)) for key, results in loads.items()}
    print_tables(args, table, paced)
    print(f"load average after: {Path('/proc/loadavg').read_text().strip()}")
    for line in notes(table):
        print(f"note: {line}")
    print("\nbars (issues 2, 3 and 15):")
    verdicts = bars(table, rounds, paced, args.sample_rate)
    for passed, line in verdicts:
        print(f"  {'PASS' if passed else 'FAIL'}  {line}")
    if args.json:
        dump = {f"{n}_c{c}": vars(f) for (n, c), f in table.items()}
        print(json.dumps({"throughput": dump, "fixed_rate": paced}, indent=1))
    return 0 if all(passed for passed, _ in verdicts) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # children were already stopped by `Processes.stop`
        print("proxy_bench: interrupted", file=sys.stderr)
        sys.exit(130)
