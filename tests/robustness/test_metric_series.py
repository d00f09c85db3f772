"""High-cardinality traffic keeps the /metrics series count under the documented cap."""

from __future__ import annotations

import re
import time

import httpx
from servers import ThreadedUvicorn, running_sidecar

from sidecar.export.features import DEFAULT_MAX_FEATURES
from sidecar.model_state import DEFAULT_MAX_MODELS

SERIES_CAP = 16 * 100 * 30 + 1_000  # docs/metrics.md "Cardinality", plus HTTP and process series
LABEL = re.compile(r'(\w+)="([^"]*)"')


def _analysed(runtime: object, requests: int) -> None:
    monitor = runtime.monitor  # type: ignore[attr-defined]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if monitor.counters().analysed >= requests:
            return
        time.sleep(0.1)


def _scraped_with_figures(admin_url: str) -> str:
    """A scrape serving window figures (the first may serve none: a scrape waits 0.5 s)."""
    deadline = time.monotonic() + 30
    while True:
        text = httpx.get(admin_url + "/metrics").text
        if "sidecar_analysis_report_age_seconds " in text or time.monotonic() > deadline:
            return text
        time.sleep(0.2)


class TestMetricSeries:
    def test_many_models_features_and_values_stay_under_the_series_cap(
        self, upstream: ThreadedUvicorn
    ) -> None:
        """30 models x 300 distinct features x distinct values: bounded series, <= 100 features."""
        with running_sidecar(upstream.url, sample_rate=1) as sc, httpx.Client() as client:
            for i in range(60):
                row = {f"f{i}-{j}": float(j) for j in range(300)} | {"c": f"value-{i}"}
                response = client.post(
                    sc.url + f"/v1/models/m{i % 30}:predict", json={"instances": [row]}
                )
                assert response.status_code == 200
            _analysed(sc.runtime, 60)
            text = _scraped_with_figures(sc.admin_url)
        series = [line for line in text.splitlines() if line and not line.startswith("#")]
        assert len(series) < SERIES_CAP
        # Our own caps bind before the SDK's per-instrument limit, so nothing is folded silently.
        assert not [line for line in series if "otel_metric_overflow" in line]
        features: dict[str, set[str]] = {}
        for line in series:
            labels = dict(LABEL.findall(line))
            if "feature" in labels:
                features.setdefault(labels["model"], set()).add(labels["feature"])
        assert features, "no per-feature series exported"
        assert len(features) <= DEFAULT_MAX_MODELS + 1, sorted(features)
        assert max(len(names) for names in features.values()) <= DEFAULT_MAX_FEATURES
