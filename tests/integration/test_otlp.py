"""OTLP push for real: a sidecar process configured by OTEL_* variables sends metrics and traces
to an OTLP/HTTP receiver, which decodes them; W3C trace headers reach the upstream unchanged."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from model_traffic import bodies, post_all, rows, write_reference
from otlp_receiver import Received, running_receiver
from servers import ThreadedUvicorn, free_port

REQUESTS = 40
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
TRACESTATE = "vendor=opaque,other=1"


def _value(any_value: Any) -> Any:
    return getattr(any_value, any_value.WhichOneof("value"))


def _attributes(items: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in items}


def _metrics(request: Any) -> dict[str, Any]:
    """{name: metric} of one export request."""
    return {
        metric.name: metric
        for resource in request.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }


def _wait(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


@pytest.fixture(scope="module")
def pushed(
    upstream: ThreadedUvicorn, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Received, dict[str, Any], list[httpx.Response]]]:
    """Run a sidecar process pushing to a receiver; send traced traffic; freeze; collect."""
    directory = tmp_path_factory.mktemp("otlp")
    reference = write_reference(directory)
    port, admin = free_port(), free_port()
    with running_receiver() as (endpoint, received):
        env = {
            **os.environ,
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_METRIC_EXPORT_INTERVAL": "300",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_SERVICE_NAME": "iris-sidecar",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test",
            "POD_NAME": "iris-7d4b9",
            "POD_NAMESPACE": "models",
        }
        command = [sys.executable, "-m", "sidecar", "run", "--upstream", upstream.url]
        command += ["--host", "127.0.0.1", "--port", str(port), "--admin-port", str(admin)]
        command += ["--reference", str(reference), "--analysis-cpu-share", "1.0"]
        command += ["--window-seconds", "3600"]
        log = (directory / "sidecar.log").open("wb")
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        admin_url, url = f"http://127.0.0.1:{admin}", f"http://127.0.0.1:{port}"
        try:
            _wait(lambda: _healthy(admin_url))
            headers = {"traceparent": TRACEPARENT, "tracestate": TRACESTATE}
            post_all(url, bodies(rows(3, REQUESTS * 4, shift=0.5)), headers)
            echoed = [
                httpx.get(url + "/echo/ping", headers={**headers, "x-request-id": "req-echo"})
            ]
            _wait(lambda: _counted(admin_url) == REQUESTS * 4)
            drift = httpx.get(admin_url + "/api/v1/drift").json()
            seen = len(received.metrics)
            _wait(lambda: len(received.metrics) >= seen + 2)
            _wait(lambda: sum(len(r.resource_spans) for r in received.traces) > 0)
            _wait(lambda: _span_count(received) >= REQUESTS + 1)
            yield received, drift, echoed
        finally:
            proc.terminate()
            proc.wait(20)
            log.close()


def _healthy(admin_url: str) -> bool:
    try:
        return httpx.get(admin_url + "/healthz").status_code == 200
    except httpx.TransportError:
        return False


def _counted(admin_url: str) -> int:
    found = httpx.get(admin_url + "/api/v1/drift")
    return int(found.json()["features"]["x0"]["count"]) if found.status_code == 200 else 0


def _span_count(received: Received) -> int:
    with received.lock:
        return sum(
            len(scope.spans)
            for request in received.traces
            for resource in request.resource_spans
            for scope in resource.scope_spans
        )


def _spans(received: Received) -> list[Any]:
    with received.lock:
        return [
            span
            for request in received.traces
            for resource in request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]


class TestOtlpMetrics:
    def test_resource_names_the_service_and_the_pod(self, pushed: Any) -> None:
        """Resource: OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES and the downward-API pod."""
        received, _, _ = pushed
        resource = _attributes(received.metrics[-1].resource_metrics[0].resource.attributes)
        assert resource["service.name"] == "iris-sidecar"
        assert resource["deployment.environment"] == "test"
        assert resource["k8s.pod.name"] == "iris-7d4b9"
        assert resource["k8s.namespace.name"] == "models"

    def test_duration_histogram_and_counters_have_units_and_values(self, pushed: Any) -> None:
        """The request-duration histogram is in seconds and counts every proxied request."""
        received, _, _ = pushed
        metrics = _metrics(received.metrics[-1])
        duration = metrics["http.server.request.duration"]
        assert duration.unit == "s"
        points = duration.histogram.data_points
        model_points = [p for p in points if _attributes(p.attributes)["http.route"] != "other"]
        assert sum(p.count for p in model_points) == REQUESTS
        attributes = _attributes(model_points[0].attributes)
        assert attributes["http.request.method"] == "POST"
        assert attributes["http.response.status_code"] == 200
        requests = metrics["sidecar.capture.requests"]
        assert requests.sum.is_monotonic and requests.sum.data_points[0].as_int == REQUESTS

    def test_drift_gauges_equal_the_drift_api(self, pushed: Any) -> None:
        """Every pushed drift statistic equals /api/v1/drift after traffic stopped."""
        received, drift, _ = pushed
        gauge = _metrics(received.metrics[-1])["sidecar.feature.drift"].gauge
        pushed_values = {
            (a["feature"], a["statistic"]): p.as_double
            for p in gauge.data_points
            if (a := _attributes(p.attributes))["model"] == "iris"
        }
        expected = {
            (feature, statistic): value
            for feature, column in drift["features"].items()
            for statistic, value in column["statistics"].items()
            if value is not None
        }
        assert pushed_values == expected

    def test_duration_exemplars_point_at_request_spans(self, pushed: Any) -> None:
        """Exemplars on the duration histogram carry the trace id of the incoming traceparent."""
        received, _, _ = pushed
        histograms = [
            found.histogram
            for request in received.metrics
            if (found := _metrics(request).get("http.server.request.duration")) is not None
        ]
        exemplars = [e for h in histograms for p in h.data_points for e in p.exemplars]
        assert exemplars
        assert {e.trace_id.hex() for e in exemplars} == {TRACE_ID}


class TestOtlpTraces:
    def test_one_server_span_per_request_as_child_of_the_caller(self, pushed: Any) -> None:
        """Each proxied request has a server span in the caller's trace, parented on its span."""
        received, _, _ = pushed
        spans = _spans(received)
        assert len(spans) == REQUESTS + 1
        for span in spans:
            assert span.trace_id.hex() == TRACE_ID
            assert span.parent_span_id.hex() == PARENT_ID
            assert span.kind == span.SPAN_KIND_SERVER
        model_spans = [s for s in spans if _attributes(s.attributes).get("sidecar.model")]
        assert len(model_spans) == REQUESTS
        attributes = _attributes(model_spans[0].attributes)
        assert attributes["http.request.method"] == "POST"
        assert attributes["http.response.status_code"] == 200
        assert attributes["sidecar.model"] == "iris"
        assert attributes["sidecar.sampled"] is True
        assert len(attributes["sidecar.request_id"]) == 32

    def test_request_id_is_recorded(self, pushed: Any) -> None:
        """The request id the caller sent is the span's `sidecar.request_id`."""
        received, _, _ = pushed
        ids = {_attributes(s.attributes)["sidecar.request_id"] for s in _spans(received)}
        assert "req-echo" in ids

    def test_trace_headers_reach_the_upstream_unchanged(self, pushed: Any) -> None:
        """traceparent and tracestate arrive at the upstream byte for byte."""
        _, _, echoed = pushed
        headers = dict(echoed[0].json()["headers"])
        assert headers["traceparent"] == TRACEPARENT
        assert headers["tracestate"] == TRACESTATE
