"""A real Prometheus for tests: scrapes given targets every second on 127.0.0.1, optional rules.

    with running_prometheus(tmp_path, ["127.0.0.1:9101"], rules=[path]) as prom:
        prom.wait_for("up == 1")
        value = prom.scalar("sum(sidecar_capture_requests_total)")

Prometheus 2.42 from Debian (`apt-get install prometheus`; `.ci/run` installs it). Tests that
need it are marked `prometheus` and skip when the binary is absent.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from servers import free_port

PROMETHEUS = shutil.which("prometheus") or (
    "/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None
)
needs_prometheus = pytest.mark.skipif(
    PROMETHEUS is None, reason="prometheus is not installed (CI installs it)"
)
START_TIMEOUT = 20.0


class Prometheus:
    """A running Prometheus: query helpers over its HTTP API."""

    def __init__(self, url: str, process: subprocess.Popen[bytes]) -> None:
        self.url = url
        self.process = process

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """The instant vector (or scalar, as one sample) `expr` evaluates to."""
        params: dict[str, str] = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        response = httpx.get(self.url + "/api/v1/query", params=params, timeout=10)
        body = response.json()
        if body.get("status") != "success":
            raise AssertionError(f"query {expr!r} failed: {body}")
        data = body["data"]
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        return list(data["result"])

    def values(self, expr: str, at: float | None = None) -> dict[frozenset[tuple[str, str]], float]:
        """`expr`'s samples as {label set: value}."""
        return {
            frozenset(item["metric"].items()): float(item["value"][1])
            for item in self.query(expr, at)
        }

    def scalar(self, expr: str, at: float | None = None) -> float:
        """The single value of `expr` (AssertionError unless exactly one sample)."""
        found = self.query(expr, at)
        if len(found) != 1:
            raise AssertionError(f"{expr!r} returned {len(found)} samples: {found}")
        return float(found[0]["value"][1])

    def wait_for(
        self, expr: str, check: Callable[[list[dict[str, Any]]], bool] = bool, timeout: float = 30
    ) -> list[dict[str, Any]]:
        """Poll `expr` until `check(result)` holds; AssertionError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        result: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            result = self.query(expr)
            if check(result):
                return result
            time.sleep(0.25)
        raise AssertionError(f"{expr!r} did not satisfy the condition in {timeout} s: {result}")

    def alerts(self) -> list[dict[str, Any]]:
        """Active alerts (`/api/v1/alerts`)."""
        body = httpx.get(self.url + "/api/v1/alerts", timeout=10).json()
        return list(body["data"]["alerts"])

    def last_scrape(self) -> float:
        """The newest scrape time over all targets (Unix seconds)."""
        targets = httpx.get(self.url + "/api/v1/targets", timeout=10).json()["data"]
        stamps = [t["lastScrape"] for t in targets["activeTargets"]]
        from datetime import datetime

        return max(datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() for s in stamps)


def write_config(
    directory: Path, targets: Sequence[str], rules: Sequence[Path] = (), interval: str = "1s"
) -> Path:
    """A prometheus.yml scraping `targets` (host:port) at `interval`, loading `rules`."""
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(path) for path in rules],
        "scrape_configs": [
            {
                "job_name": "sidecar",
                "scrape_interval": interval,
                "scrape_timeout": interval,
                "static_configs": [{"targets": list(targets)}],
            }
        ],
    }
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@contextlib.contextmanager
def running_prometheus(
    directory: Path, targets: Sequence[str], rules: Sequence[Path] = ()
) -> Iterator[Prometheus]:
    """Start Prometheus on 127.0.0.1 with a temporary TSDB; stop it on exit."""
    if PROMETHEUS is None:
        pytest.skip("prometheus is not installed")
    directory.mkdir(parents=True, exist_ok=True)
    config = write_config(directory, targets, rules)
    port = free_port()
    log = (directory / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "GOMAXPROCS": "1"},
    )
    prometheus = Prometheus(f"http://127.0.0.1:{port}", process)
    try:
        _wait_ready(prometheus, directory)
        yield prometheus
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()


def _wait_ready(prometheus: Prometheus, directory: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if prometheus.process.poll() is not None:
            raise RuntimeError(
                "prometheus exited: " + (directory / "prometheus.log").read_text()[-2000:]
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(prometheus.url + "/-/ready", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError("prometheus did not become ready")
