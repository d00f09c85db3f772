"""A real Prometheus scraping a sidecar under traffic sees what the admin API reports."""

from __future__ import annotations

import math
from collections.abc import Iterator

import httpx
import pytest
from model_traffic import bodies, post_all, rows, write_reference
from prom import Prometheus, needs_prometheus, running_prometheus
from prometheus_client.parser import text_string_to_metric_families
from servers import SidecarHandle, ThreadedUvicorn, running_sidecar

pytestmark = [pytest.mark.prometheus, needs_prometheus]

REQUESTS = 120
ROWS_PER_REQUEST = 4


def _histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus's histogram_quantile on cumulative (upper bound, count) pairs."""
    buckets = sorted(buckets)
    total = buckets[-1][1]
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if math.isinf(upper):
                return lower_bound
            return lower_bound + (upper - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = upper, count
    raise AssertionError("rank beyond the last bucket")


@pytest.fixture(scope="module")
def scraped(
    upstream: ThreadedUvicorn, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[SidecarHandle, Prometheus]]:
    """A sidecar with a reference, having served shifted traffic, scraped by Prometheus."""
    directory = tmp_path_factory.mktemp("prom")
    reference = write_reference(directory)
    with running_sidecar(upstream.url, reference=reference, window_seconds=3600) as sc:
        target = sc.admin_url.removeprefix("http://")
        with running_prometheus(directory, [target]) as prom:
            prom.wait_for("up == 1")
            post_all(sc.url, bodies(rows(1, REQUESTS * ROWS_PER_REQUEST, shift=0.6)))
            assert sc.runtime.worker.wait_idle(30)
            # Traffic is frozen: wait for a scrape that saw every analysed request.
            prom.wait_for(
                "sidecar_capture_requests_total",
                lambda r: bool(r) and float(r[0]["value"][1]) == REQUESTS,
            )
            expected = sum(sc.runtime.monitor.counters().rows.values())
            prom.wait_for(
                'sum(sidecar_feature_rows{feature="x0"})',
                lambda r: bool(r) and float(r[0]["value"][1]) == expected,
            )
            yield sc, prom


class TestPrometheusScrape:
    def test_drift_gauges_equal_the_drift_api(
        self, scraped: tuple[SidecarHandle, Prometheus]
    ) -> None:
        """Every drift statistic, verdict and row count in PromQL equals /api/v1/drift."""
        sc, prom = scraped
        api = httpx.get(sc.admin_url + "/api/v1/drift").json()
        statistics = prom.values('sidecar_feature_drift{model="iris"}')
        compared = 0
        for feature, column in api["features"].items():
            for statistic, value in column["statistics"].items():
                if value is None:
                    continue
                key = frozenset(
                    {
                        "__name__": "sidecar_feature_drift",
                        "instance": sc.admin_url.removeprefix("http://"),
                        "job": "sidecar",
                        "model": "iris",
                        "feature": feature,
                        "statistic": statistic,
                    }.items()
                )
                assert statistics[key] == value, (feature, statistic)
                compared += 1
            detected = prom.scalar(
                f'sidecar_feature_drift_detected{{model="iris",feature="{feature}"}}'
            )
            assert detected == float(column["drift"])
            rows_seen = prom.scalar(f'sidecar_feature_rows{{model="iris",feature="{feature}"}}')
            assert rows_seen == column["count"]
        assert compared == len(statistics) >= 4 * 5
        share = prom.scalar('sidecar_dataset_drift_share_ratio{model="iris"}')
        assert share == api["dataset"]["share"]
        assert prom.scalar('sidecar_feature_drift_detected{feature="x1"}') == 1.0

    def test_duration_quantiles_match_the_sidecars_histogram(
        self, scraped: tuple[SidecarHandle, Prometheus]
    ) -> None:
        """histogram_quantile over the scraped buckets equals the quantile of the own buckets."""
        sc, prom = scraped
        text = httpx.get(sc.admin_url + "/metrics").text
        buckets: dict[float, float] = {}
        for family in text_string_to_metric_families(text):
            if family.name != "http_server_request_duration_seconds":
                continue
            for sample in family.samples:
                if sample.name.endswith("_bucket"):
                    bound = float(sample.labels["le"])
                    buckets[bound] = buckets.get(bound, 0.0) + sample.value
        assert buckets[math.inf] == REQUESTS  # only the model route was proxied
        for q in (0.5, 0.9, 0.99):
            series = "http_server_request_duration_seconds_bucket"
            expr = f"histogram_quantile({q}, sum by (le) ({series}))"
            assert prom.scalar(expr) == pytest.approx(
                _histogram_quantile(q, list(buckets.items())), rel=1e-12
            )

    def test_capture_and_status_series_arrive(
        self, scraped: tuple[SidecarHandle, Prometheus]
    ) -> None:
        """Capture counters and the status gauges are queryable, with the API's verdicts."""
        sc, prom = scraped
        assert prom.scalar("sidecar_capture_sampled_total") == REQUESTS
        status = httpx.get(sc.admin_url + "/api/v1/status").json()
        gauges = {
            dict(labels)["signal"]: value for labels, value in prom.values("sidecar_status").items()
        }
        verdicts = {"ok": 0, "warning": 1, "critical": 2, "unknown": -1}
        drift_signal = next(s for s in status["signals"] if s["name"] == "feature_drift")
        assert gauges["feature_drift"] == verdicts[drift_signal["status"]]
        assert set(gauges) == {s["name"] for s in status["signals"]}
