"""Server spans for proxied requests, pushed over OTLP when a traces endpoint is configured.

Tracing is on when `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT` is set
and `OTEL_TRACES_EXPORTER` is not `none`; otherwise `build_tracer` returns None and the proxy
pays one `is None` test per request. Each span is a child of the incoming W3C `traceparent`
(and `tracestate`), which the proxy forwards to the upstream unchanged: the sidecar's span is a
sibling of the upstream's, not its parent, so the caller's trace is never rewritten. Spans are
batched (`BatchSpanProcessor`: at most 2,048 queued, excess dropped by the SDK) and sampled by
`OTEL_TRACES_SAMPLER` (default: parent-based, always on).

Attributes follow the HTTP server semantic conventions (`http.request.method`, `url.path`,
`url.scheme`, `http.route`, `http.response.status_code`, `network.protocol.version`,
`client.address`, `server.port`, `http.request.body.size`, `http.response.body.size`,
`error.type`), plus `sidecar.model`, `sidecar.request_id` and `sidecar.sampled` (whether the pair
was sampled for analysis).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span, SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from sidecar import __version__
from sidecar.decoders.routes import detect_model, route_template

Headers = list[tuple[bytes, bytes]]


class _HeaderGetter(Getter[Headers]):
    """Reads W3C trace headers from an ASGI header list."""

    def get(self, carrier: Headers, key: str) -> list[str] | None:
        wanted = key.lower().encode("latin-1")
        found = [v.decode("latin-1") for k, v in carrier if k == wanted]
        return found or None

    def keys(self, carrier: Headers) -> list[str]:
        return [k.decode("latin-1") for k, _ in carrier]


_GETTER = _HeaderGetter()
_PROPAGATOR = TraceContextTextMapPropagator()


def tracing_configured(environ: Mapping[str, str]) -> bool:
    """True when an OTLP traces endpoint is set and traces are not switched off."""
    endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    return bool(endpoint) and environ.get("OTEL_TRACES_EXPORTER", "otlp") != "none"


def build_tracer(environ: Mapping[str, str], resource: Resource) -> RequestTracer | None:
    """A request tracer exporting over OTLP, or None when tracing is not configured."""
    if not tracing_configured(environ):
        return None
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    if protocol == "grpc":  # optional extra: opentelemetry-exporter-otlp-proto-grpc
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # type: ignore[import-not-found]
            OTLPSpanExporter,
        )
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    provider = TracerProvider(resource=resource)
    # The exporter reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, _HEADERS and _TIMEOUT itself.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return RequestTracer(provider)


class RequestTracer:
    """Starts and ends the server span of each proxied request."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer("sidecar.proxy", __version__)

    def start(self, scope: Mapping[str, Any], request_id: str, sampled: bool) -> Span:
        """A server span for the request in `scope`, child of its incoming trace context."""
        parent: Context = _PROPAGATOR.extract(scope["headers"], getter=_GETTER)
        path: str = scope["path"]
        route = route_template(path)
        method: str = scope["method"]
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.path": path,
            "url.scheme": scope.get("scheme", "http"),
            "http.route": route,
            "network.protocol.version": scope.get("http_version", "1.1"),
            "sidecar.request_id": request_id,
            "sidecar.sampled": sampled,
        }
        if route != "other":
            attributes["sidecar.model"] = detect_model(path)
        client = scope.get("client")
        if client:
            attributes["client.address"] = client[0]
        server = scope.get("server")
        if server and server[1] is not None:
            attributes["server.port"] = server[1]
        return self.tracer.start_span(
            f"{method} {route}", context=parent, kind=SpanKind.SERVER, attributes=attributes
        )

    @staticmethod
    def end(
        span: Span,
        status: int,
        error_kind: str | None,
        request_bytes: int,
        response_bytes: int,
    ) -> None:
        """Set the outcome attributes and end the span."""
        if status:
            span.set_attribute("http.response.status_code", status)
        span.set_attribute("http.request.body.size", request_bytes)
        span.set_attribute("http.response.body.size", response_bytes)
        if error_kind is not None:
            span.set_attribute("error.type", error_kind)
        if error_kind is not None or status >= 500:
            # Server spans are errors for 5xx only (semantic conventions); 4xx stays unset.
            span.set_status(StatusCode.ERROR)
            if error_kind is None:
                span.set_attribute("error.type", str(status))
        span.end()

    @staticmethod
    def context(span: Span) -> Context:
        """A context with `span` current, for exemplars on the duration histogram."""
        return trace.set_span_in_context(span)

    def shutdown(self) -> None:
        """Flush queued spans and stop the exporter."""
        self.provider.shutdown()
