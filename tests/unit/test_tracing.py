"""Request spans: configured only by OTEL_* variables, children of the incoming traceparent,
with HTTP semantic-convention attributes and an error status for 5xx and upstream failures."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from sidecar.export.telemetry import Telemetry
from sidecar.export.tracing import RequestTracer, build_tracer, tracing_configured

TRACEPARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _scope(path: str = "/v2/models/fraud/infer", traced: bool = True) -> dict[str, Any]:
    headers = [(b"content-type", b"application/json")]
    if traced:
        headers += [(b"traceparent", TRACEPARENT), (b"tracestate", b"a=1")]
    return {
        "type": "http",
        "method": "POST",
        "path": path,
        "scheme": "http",
        "http_version": "1.1",
        "headers": headers,
        "client": ("10.0.0.7", 51000),
        "server": ("127.0.0.1", 8080),
    }


@pytest.fixture
def recorded() -> tuple[RequestTracer, InMemorySpanExporter]:
    """A request tracer whose spans land in memory (the SDK's own in-memory exporter)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return RequestTracer(provider), exporter


class TestConfiguration:
    @pytest.mark.parametrize(
        ("environ", "expected"),
        [
            ({}, False),
            ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, True),
            ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, True),
            (
                {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"},
                False,
            ),
            ({"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://c:4318/v1/metrics"}, False),
        ],
    )
    def test_tracing_follows_the_standard_variables(
        self, environ: dict[str, str], expected: bool
    ) -> None:
        """A traces (or generic) endpoint turns tracing on; `none` or metrics-only leaves it off."""
        assert tracing_configured(environ) is expected

    def test_without_an_endpoint_there_is_no_tracer(self) -> None:
        """No endpoint: no tracer, so the proxy's per-request cost is one `is None` test."""
        assert build_tracer({}, Resource.create({})) is None
        assert Telemetry.create({}).tracer is None


class TestRequestSpans:
    def test_span_is_a_server_child_of_the_incoming_context(
        self, recorded: tuple[RequestTracer, InMemorySpanExporter]
    ) -> None:
        """The span joins the caller's trace under its span id, with semconv attributes."""
        tracer, exporter = recorded
        span = tracer.start(_scope(), "rid-1", sampled=True)
        tracer.end(span, 200, None, 120, 40)
        (finished,) = exporter.get_finished_spans()
        assert finished.kind is SpanKind.SERVER
        assert finished.context.trace_id == int("4bf92f3577b34da6a3ce929d0e0e4736", 16)
        assert finished.parent is not None and finished.parent.span_id == int(
            "00f067aa0ba902b7", 16
        )
        assert finished.name == "POST /v2/models/{model}/infer"
        attributes = dict(finished.attributes or {})
        assert attributes["http.request.method"] == "POST"
        assert attributes["http.route"] == "/v2/models/{model}/infer"
        assert attributes["http.response.status_code"] == 200
        assert attributes["sidecar.model"] == "fraud"
        assert attributes["sidecar.request_id"] == "rid-1"
        assert attributes["sidecar.sampled"] is True
        assert attributes["client.address"] == "10.0.0.7"
        assert attributes["http.request.body.size"] == 120
        assert finished.status.status_code is StatusCode.UNSET

    def test_untraced_request_starts_a_new_trace(
        self, recorded: tuple[RequestTracer, InMemorySpanExporter]
    ) -> None:
        """Without a traceparent the span is a root; a non-model path has no model attribute."""
        tracer, exporter = recorded
        tracer.end(tracer.start(_scope("/healthz", traced=False), "rid-2", False), 404, None, 0, 9)
        (finished,) = exporter.get_finished_spans()
        assert finished.parent is None
        assert "sidecar.model" not in dict(finished.attributes or {})
        assert finished.status.status_code is StatusCode.UNSET  # 4xx is not a server error

    @pytest.mark.parametrize(
        ("status", "kind", "error"), [(502, "unavailable", "unavailable"), (503, None, "503")]
    )
    def test_failures_mark_the_span_as_error(
        self,
        recorded: tuple[RequestTracer, InMemorySpanExporter],
        status: int,
        kind: str | None,
        error: str,
    ) -> None:
        """An upstream failure or a 5xx sets the error status and `error.type`."""
        tracer, exporter = recorded
        tracer.end(tracer.start(_scope(), "rid-3", False), status, kind, 10, 0)
        (finished,) = exporter.get_finished_spans()
        assert finished.status.status_code is StatusCode.ERROR
        assert dict(finished.attributes or {})["error.type"] == error
