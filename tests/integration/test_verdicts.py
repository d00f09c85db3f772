"""Verdicts through a running sidecar: no false alarms, a held detection, a harmless reference PUT.

10-second sliding windows, ~50 rows/s from the reference distribution itself (five normal
features), polled every 0.5 s on `/metrics`, `/api/v1/drift` and `/api/v1/status`; then a 1.5 sd
shift of one feature; then a PUT of the same reference.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from servers import SidecarHandle, ThreadedUvicorn, running_sidecar

from sidecar.reference.builder import ProfileBuilder
from sidecar.reference.profile import save_reference

FEATURES = ("x0", "x1", "x2", "x3", "x4")
ROWS_PER_REQUEST = 5
REQUESTS_PER_SECOND = 10
QUIET_SECONDS = 60.0
DETECT_WITHIN = 25.0
HOLD_SECONDS = 20.0
POLL = 0.5
RAISED = ("warning", "critical")

pytestmark = pytest.mark.slow


class Traffic:
    """Posts seeded rows at a steady rate in a thread; `shift` moves x1 by that many sds."""

    def __init__(self, url: str) -> None:
        self.url = url + "/v1/models/m:predict"
        self.shift = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._rng = np.random.default_rng(5)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        with httpx.Client(timeout=5) as client:
            next_at = time.monotonic()
            while not self._stop.is_set():
                values = self._rng.normal(0.0, 1.0, (ROWS_PER_REQUEST, len(FEATURES)))
                values[:, 1] += self.shift
                rows = [dict(zip(FEATURES, map(float, row), strict=True)) for row in values]
                client.post(self.url, json={"instances": rows})
                next_at += 1.0 / REQUESTS_PER_SECOND
                self._stop.wait(max(0.0, next_at - time.monotonic()))


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A profile of 20,000 rows of five independent standard normal features."""
    rng = np.random.default_rng(3)
    builder = ProfileBuilder()
    builder.add({name: rng.normal(0.0, 1.0, 20_000) for name in FEATURES})
    path = tmp_path_factory.mktemp("verdicts") / "reference.json"
    save_reference(builder.build(), path)
    return path


@pytest.fixture(scope="module")
def sidecar(upstream: ThreadedUvicorn, reference: Path) -> Iterator[SidecarHandle]:
    """A sidecar with 10-second windows and the reference."""
    with running_sidecar(upstream.url, window_seconds=10, reference=str(reference)) as handle:
        yield handle


def _drained(sidecar: SidecarHandle) -> None:
    """Wait until every captured pair is analysed (traffic has stopped)."""
    runtime = sidecar.runtime
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        counted = runtime.monitor.counters().analysed
        time.sleep(0.3)
        if runtime.capture.depth == 0 and runtime.monitor.counters().analysed == counted:
            return


def _poll(client: httpx.Client, admin: str) -> dict[str, Any]:
    """Every drift verdict at one poll: status signals, gauges, API flags."""
    families = text_string_to_metric_families(client.get(admin + "/metrics").text)
    gauges: dict[str, float] = {}
    detected: dict[str, float] = {}
    for family in families:
        for sample in family.samples:
            if sample.name == "sidecar_status":
                gauges[sample.labels["signal"]] = sample.value
            elif sample.name == "sidecar_feature_drift_detected":
                detected[sample.labels["feature"]] = sample.value
    answer = client.get(admin + "/api/v1/drift")
    drift = answer.json() if answer.status_code == 200 else {"features": {}}  # 404: no traffic
    status = client.get(admin + "/api/v1/status").json()
    signals = {s["name"]: s["status"] for s in status["signals"]}
    return {
        "gauges": gauges,
        "detected": detected,
        "flags": {name: column["drift"] for name, column in drift["features"].items()},
        "signals": signals,
    }


class TestVerdictsEndToEnd:
    def test_quiet_then_shift_then_same_reference(
        self, sidecar: SidecarHandle, reference: Path
    ) -> None:
        """No drift alarm for 60 s of undrifted traffic; a shift is found and held; PUT is inert."""
        with httpx.Client(timeout=10) as client, Traffic(sidecar.url) as traffic:
            started = time.monotonic()
            while time.monotonic() - started < QUIET_SECONDS:
                seen = _poll(client, sidecar.admin_url)
                for name in ("feature_drift", "dataset_drift"):
                    assert seen["signals"].get(name) not in RAISED, seen
                    assert seen["gauges"].get(name, -1) <= 0, seen
                assert not any(seen["detected"].values()), seen
                assert not any(flag is True for flag in seen["flags"].values()), seen
                time.sleep(POLL)
            assert seen["signals"]["feature_drift"] == "ok", seen

            traffic.shift = 1.5
            shifted = time.monotonic()
            detected_at = None
            # Until HOLD_SECONDS after the detection (or DETECT_WITHIN without one).
            while time.monotonic() - shifted < (
                DETECT_WITHIN if detected_at is None else detected_at + HOLD_SECONDS
            ):
                seen = _poll(client, sidecar.admin_url)
                raised = (
                    seen["signals"].get("feature_drift") in RAISED
                    and seen["gauges"].get("feature_drift", -1) >= 1
                    and seen["detected"].get("x1") == 1
                    and seen["flags"].get("x1") is True
                )
                if detected_at is None and raised:
                    detected_at = time.monotonic() - shifted
                elif detected_at is not None:
                    assert raised, seen
                time.sleep(POLL)
            assert detected_at is not None and detected_at <= DETECT_WITHIN

        monitor = sidecar.runtime.monitor
        _drained(sidecar)
        now = time.time()
        before = monitor.view(None, "current", now)
        body = json.dumps(json.loads(reference.read_text())).encode()
        put = httpx.put(sidecar.admin_url + "/api/v1/reference", content=body)
        assert put.status_code == 200
        after = monitor.view(None, "current", now)
        assert after.snapshot.rows == before.snapshot.rows > 0
        for name in FEATURES:
            old, new = before.snapshot.features[name], after.snapshot.features[name]
            assert (new.count, new.quality.present) == (old.count, old.quality.present)
        quality = httpx.get(sidecar.admin_url + "/api/v1/quality").json()
        assert all(quality["features"][name]["missing"] == 0.0 for name in FEATURES), quality
