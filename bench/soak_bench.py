"""Soak: steady load with drift, delayed labels and SIGTERM restarts of a sidecar with --state-dir.

What runs, all on 127.0.0.1: the test upstream (`tests/servers.py`, uvicorn in a child process);
`python -m sidecar run --state-dir DIR --sample-rate 1 --window-seconds 30` in a child process;
this script as the load: `--rate` requests/s (default 50) of a KServe v1 body whose feature `x0`
drifts by one standard deviation per minute, labels for every prediction posted 2 s later in
batches to /api/v1/feedback, and a SIGTERM + restart every `--restart-every` seconds.

Printed: the sidecar's RSS over time; requests issued, answered and lost, split by whether a
restart was in progress when they were issued (lost outside restarts must be 0); labels matched
and unknown (labels for predictions made before a restart must still match); and after each
restart the windows and pending predictions restored (from the sidecar's JSON log line).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
RESTORED = re.compile(r"restored state .*: (\d+) models, (\d+) windows, (\d+) prediction")


def free_port() -> int:
    """A port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, seconds: float = 30) -> None:
    """Block until something accepts connections on `port`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {seconds} s")


def rss_mib(pid: int) -> float:
    """Resident set size of a process, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


@dataclass
class Tally:
    """What the load saw."""

    issued: list[int] = field(default_factory=lambda: [0, 0])  # [steady, during restart]
    lost: list[int] = field(default_factory=lambda: [0, 0])
    matched: int = 0
    unknown: int = 0
    restoring: bool = False
    pending: list[tuple[float, str, int]] = field(default_factory=list)


class Sidecar:
    """The sidecar child process; restarts keep ports and state directory."""

    def __init__(self, upstream: str, state: Path, log: Path) -> None:
        self.port, self.admin = free_port(), free_port()
        self.args = [sys.executable, "-m", "sidecar", "run", "--upstream", upstream]
        self.args += ["--host", "127.0.0.1", "--port", str(self.port)]
        self.args += ["--admin-port", str(self.admin), "--state-dir", str(state)]
        self.args += ["--sample-rate", "1", "--window-seconds", "30", "--log-format", "json"]
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as handle:
            self.process = subprocess.Popen(self.args, stderr=handle, stdout=subprocess.DEVNULL)
        wait_port(self.admin)
        wait_port(self.port)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(60)


async def request(client: httpx.AsyncClient, sidecar: Sidecar, tally: Tally, i: int) -> None:
    """One prediction request; `x0` drifts one standard deviation per minute."""
    slot = int(tally.restoring)
    tally.issued[slot] += 1
    x0 = (time.time() % 3600) / 60 + math.sin(i)
    rid = f"soak-{i}"
    try:
        response = await client.post(
            f"http://127.0.0.1:{sidecar.port}/v1/models/m:predict",
            json={"instances": [{"x0": x0, "colour": ["red", "blue"][i % 2]}]},
            headers={"x-request-id": rid},
        )
        if response.status_code != 200:
            raise RuntimeError(response.status_code)
        tally.pending.append((time.monotonic(), rid, int(x0 > 0)))
    except Exception:
        tally.lost[slot] += 1


async def label(client: httpx.AsyncClient, sidecar: Sidecar, tally: Tally) -> None:
    """Post labels for predictions older than 2 s (kept for a retry when the admin is down)."""
    cutoff = time.monotonic() - 2
    due = [p for p in tally.pending if p[0] < cutoff]
    if not due or tally.restoring:
        return
    body = [{"request_id": rid, "label": y} for _, rid, y in due]
    try:
        response = await client.post(f"http://127.0.0.1:{sidecar.admin}/api/v1/feedback", json=body)
        counts = response.json()
    except Exception:
        return
    tally.matched += counts["matched"]
    tally.unknown += counts["unknown"]
    tally.pending = tally.pending[len(due) :]


async def load(args: argparse.Namespace, sidecar: Sidecar, tally: Tally, end: float) -> None:
    """Steady open-loop load plus the labeller until `end`."""
    tasks: set[asyncio.Task[None]] = set()
    async with httpx.AsyncClient(timeout=30) as client:
        i, started = 0, time.monotonic()
        while time.monotonic() < end:
            i += 1
            task = asyncio.ensure_future(request(client, sidecar, tally, i))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            if i % args.rate == 0:
                await label(client, sidecar, tally)
            await asyncio.sleep(max(0.0, started + i / args.rate - time.monotonic()))
        await asyncio.gather(*tasks)
        await asyncio.sleep(2.5)
        await label(client, sidecar, tally)


def restarts(sidecar: Sidecar, tally: Tally, every: float, end: float, rows: list[str]) -> None:
    """SIGTERM and restart every `every` seconds; note what each restart restored."""
    while time.monotonic() + every < end:
        time.sleep(every)
        tally.restoring = True
        began = time.monotonic()
        sidecar.stop()
        sidecar.start()
        tally.restoring = False
        # The new process may write its restore line a moment after it answers /readyz.
        deadline = time.monotonic() + 5
        found = RESTORED.findall(sidecar.log.read_text())
        while len(found) <= len(rows) and time.monotonic() < deadline:
            time.sleep(0.1)
            found = RESTORED.findall(sidecar.log.read_text())
        models, windows, predictions = found[-1] if len(found) > len(rows) else ("-", "-", "-")
        rows.append(
            f"restart {len(rows) + 1}: {time.monotonic() - began:.1f} s down, restored "
            f"{models} models, {windows} windows, {predictions} prediction store entries"
        )


def main() -> int:
    """Run the soak and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=50, help="requests per second")
    parser.add_argument("--restart-every", type=float, default=None, help="seconds (minutes*15)")
    args = parser.parse_args()
    every = args.restart_every or args.minutes * 15
    print(
        f"soak: {args.minutes:g} min at {args.rate} req/s, restart every {every:g} s; "
        f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs"
    )
    with tempfile.TemporaryDirectory() as directory:
        up_port = free_port()
        upstream = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "servers:upstream_app",
                "--app-dir",
                str(ROOT / "tests"),
                "--port",
                str(up_port),
                "--log-level",
                "warning",
            ]
        )
        sidecar = Sidecar(
            f"http://127.0.0.1:{up_port}",
            Path(directory) / "state",
            Path(directory) / "sidecar.log",
        )
        tally = Tally()
        rows: list[str] = []
        samples: list[tuple[float, float]] = []
        try:
            wait_port(up_port)
            sidecar.start()
            end = time.monotonic() + args.minutes * 60

            def sample() -> None:
                while time.monotonic() < end:
                    if sidecar.process is not None and sidecar.process.poll() is None:
                        samples.append(
                            (
                                args.minutes * 60 - (end - time.monotonic()),
                                rss_mib(sidecar.process.pid),
                            )
                        )
                    time.sleep(10)

            threads = [
                threading.Thread(target=sample, daemon=True),
                threading.Thread(
                    target=restarts, args=(sidecar, tally, every, end, rows), daemon=True
                ),
            ]
            for thread in threads:
                thread.start()
            asyncio.run(load(args, sidecar, tally, end))
            for thread in threads:
                thread.join(120)
        finally:
            sidecar.stop()
            upstream.terminate()
            upstream.wait(10)
    print("RSS of the sidecar (MiB) over time:")
    for seconds, mib in samples:
        print(f"  t={seconds:6.0f} s  {mib:7.1f}")
    for row in rows:
        print(row)
    print(f"requests issued with no restart in progress: {tally.issued[0]}, lost: {tally.lost[0]}")
    print(f"requests issued during restarts: {tally.issued[1]}, failed: {tally.lost[1]}")
    print(
        f"labels matched: {tally.matched}, unknown: {tally.unknown}, "
        f"never posted: {len(tally.pending)}"
    )
    print(json.dumps({"lost_outside_restarts": tally.lost[0], "restarts": len(rows)}))
    return 0 if tally.lost[0] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
