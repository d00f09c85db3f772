"""The shipped alerts fire in a real Prometheus when a feature pipeline breaks, and the sidecar's
own status agrees: a feature goes missing, then arrives as NaN."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from model_traffic import bodies, post_all, rows, write_reference
from prom import Prometheus, needs_prometheus, running_prometheus
from servers import SidecarHandle, ThreadedUvicorn, running_sidecar

pytestmark = [pytest.mark.prometheus, needs_prometheus]

ALERTS = Path(__file__).resolve().parents[2] / "deploy" / "rules" / "sidecar-alerts.yaml"


def _short_alerts(directory: Path) -> Path:
    """A copy of the shipped alerts with every `for:` cut to 2 s (expressions unchanged)."""
    doc = yaml.safe_load(ALERTS.read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            rule["for"] = "2s"
    path = directory / "alerts.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def broken_pipeline(
    upstream: ThreadedUvicorn, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[SidecarHandle, Prometheus]]:
    """A sidecar with 4-second windows and relaxed minimum samples, scraped with the alerts."""
    directory = tmp_path_factory.mktemp("alerts")
    config = directory / "sidecar.yaml"
    config.write_text(json.dumps({"status": {"min_rows": 20, "min_requests": 5}}))
    with running_sidecar(
        upstream.url,
        reference=write_reference(directory),
        config=config,
        window_seconds=4,
    ) as sc:
        target = sc.admin_url.removeprefix("http://")
        with running_prometheus(directory, [target], rules=[_short_alerts(directory)]) as prom:
            prom.wait_for("up == 1")
            yield sc, prom


def _drive(
    sc: SidecarHandle,
    payloads: list[bytes],
    done: Callable[[], dict[str, Any] | None],
    timeout: float = 40.0,
) -> dict[str, Any]:
    """Send the broken traffic in bursts until `done()` returns something."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        post_all(sc.url, payloads)
        assert sc.runtime.worker.wait_idle(10)
        found = done()
        if found is not None:
            return found
        time.sleep(0.3)
    raise AssertionError("the alert did not fire while the broken traffic flowed")


def _firing_with_status(
    sc: SidecarHandle, prom: Prometheus, alert: str, signal: str
) -> Callable[[], dict[str, Any] | None]:
    def check() -> dict[str, Any] | None:
        firing = [
            a for a in prom.alerts() if a["labels"]["alertname"] == alert and a["state"] == "firing"
        ]
        if not firing:
            return None
        status = httpx.get(sc.admin_url + "/api/v1/status").json()
        verdict = next(s for s in status["signals"] if s["name"] == signal)["status"]
        return {"alert": firing[0], "verdict": verdict, "overall": status["status"]}

    return check


class TestBrokenPipelineAlerts:
    def test_missing_feature_fires_and_status_is_critical(
        self, broken_pipeline: tuple[SidecarHandle, Prometheus]
    ) -> None:
        """Rows without x1: SidecarFeatureMissing fires for x1; status data_quality_missing is
        critical."""
        sc, prom = broken_pipeline
        data = rows(5, 120)
        for row in data:
            del row["x1"]
        found = _drive(
            sc,
            bodies(data),
            _firing_with_status(sc, prom, "SidecarFeatureMissing", "data_quality_missing"),
        )
        assert found["alert"]["labels"]["feature"] == "x1"
        assert found["alert"]["labels"]["severity"] == "critical"
        assert found["verdict"] == "critical" and found["overall"] == "critical"

    def test_nan_feature_fires_and_status_is_critical(
        self, broken_pipeline: tuple[SidecarHandle, Prometheus]
    ) -> None:
        """Then x1 arrives as NaN: SidecarFeatureNaN fires for x1; data_quality_nan is critical."""
        sc, prom = broken_pipeline
        data = rows(6, 120)
        for row in data:
            row["x1"] = float("nan")
        found = _drive(
            sc, bodies(data), _firing_with_status(sc, prom, "SidecarFeatureNaN", "data_quality_nan")
        )
        assert found["alert"]["labels"]["feature"] == "x1"
        assert found["verdict"] == "critical"
