"""One metrics model, two exporters: OpenTelemetry instruments read by Prometheus and OTLP.

Instruments are created once on an SDK `MeterProvider`. A `PrometheusMetricReader` bound to this
process's own `CollectorRegistry` serves them on the admin `/metrics`; when the standard
`OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` variables are set, a
periodic OTLP exporter pushes the same instruments. Both read the same aggregation, so they show
the same values (Prometheus cumulative, OTLP cumulative by default); docs/metrics.md ("Prometheus
and OTLP") lists where the two differ. When an OTLP traces endpoint is set, `tracer` records a
server span per proxied request (`sidecar.export.tracing`), and the duration histogram keeps
exemplars pointing at those spans (SDK exemplar filter `trace_based`).
"""

from __future__ import annotations

import functools
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider, ObservableCounter, ObservableGauge
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from prometheus_client import CollectorRegistry
from prometheus_client import Metric as PrometheusMetric
from prometheus_client.registry import Collector

from sidecar import __version__
from sidecar.decoders.routes import route_template
from sidecar.export.finished import FIELDS, FOLD_EVERY, FinishedRequests, Sinks
from sidecar.export.histograms import (
    FastHistogram,
    FastHistograms,
    InjectingPeriodicReader,
    InjectingPrometheusReader,
)
from sidecar.export.tracing import RequestTracer, build_tracer
from sidecar.proxy.observers import ERROR_KINDS
from sidecar.proxy.pool import DISCARD_REASONS
from sidecar.signals.traffic import RequestStats

if TYPE_CHECKING:
    from opentelemetry.trace import Span

DURATION_HELP = "Duration of proxied requests, arrival to last response byte."

DURATION_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.0075,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    30.0,
    60.0,
)
"""Seconds: the OpenTelemetry HTTP semantic-convention buckets, extended down to 0.5 ms."""

SIZE_BUCKETS: tuple[float, ...] = tuple(float(4**k) for k in range(3, 15))
"""Bytes: 64 B to 256 MiB, by powers of four."""

SERIES_PER_INSTRUMENT = 20_000
"""Above the largest bounded family: 16 models x 100 features x 12 bins = 19,200 series. The SDK's
default of 2,000 would silently fold the rest into one `otel_metric_overflow` series."""

CARDINALITY_LIMITS: dict[type, int] = {
    ObservableGauge: SERIES_PER_INSTRUMENT,
    ObservableCounter: SERIES_PER_INSTRUMENT,
}

K8S_ENV = {
    "k8s.pod.name": "POD_NAME",
    "k8s.namespace.name": "POD_NAMESPACE",
    "k8s.node.name": "NODE_NAME",
    "k8s.pod.uid": "POD_UID",
    "k8s.container.name": "CONTAINER_NAME",
}
"""Resource attributes read from the downward-API variables the Helm chart sets."""


def build_resource(environ: Mapping[str, str]) -> Resource:
    """The OTel resource: service name/version, OTEL_RESOURCE_ATTRIBUTES, Kubernetes identity."""
    attributes: dict[str, str] = {
        "service.name": environ.get("OTEL_SERVICE_NAME", "model-sidecar"),
        "service.version": __version__,
    }
    for key, variable in K8S_ENV.items():
        if environ.get(variable):
            attributes[key] = environ[variable]
    # Resource.create merges OTEL_RESOURCE_ATTRIBUTES from the process environment on top.
    return Resource.create(attributes)


def otlp_configured(environ: Mapping[str, str]) -> bool:
    """True when the standard OTLP metrics endpoint variables are set."""
    return (
        bool(
            environ.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
            or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        )
        and environ.get("OTEL_METRICS_EXPORTER", "otlp") != "none"
    )


def _otlp_reader(environ: Mapping[str, str], fast: FastHistograms) -> MetricReader:
    protocol = environ.get("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL") or environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    if protocol == "grpc":  # optional extra: opentelemetry-exporter-otlp-proto-grpc
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (  # type: ignore[import-not-found]
            OTLPMetricExporter,
        )
    else:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
            OTLPMetricExporter,
        )
    # The exporter and the reader read OTEL_EXPORTER_OTLP_* and OTEL_METRIC_EXPORT_INTERVAL.
    return InjectingPeriodicReader(
        fast, OTLPMetricExporter(), cardinality_limits=CARDINALITY_LIMITS
    )


@dataclass
class Telemetry:
    """The meter provider of one sidecar and what `/metrics` serves.

    `live` holds the Prometheus reader's collector (every SDK instrument and the fast
    histograms); texts added with `add_text` (the window figures, `sidecar.export.exposition`)
    are appended to its encoding by `exposition`. `registry` holds both as prometheus_client
    metrics, for readers that want every family as objects (`metric_names`, tests).
    """

    provider: MeterProvider
    registry: CollectorRegistry
    fast: FastHistograms
    live: CollectorRegistry
    tracer: RequestTracer | None = None
    texts: list[Callable[[bool], str]] = field(default_factory=list)

    def add_text(self, text: Callable[[bool], str], collector: Collector) -> None:
        """Serve `text(openmetrics)` on `/metrics` and `collector`'s families in `registry`."""
        self.texts.append(text)
        self.registry.register(collector)

    def exposition(self, encoder: Callable[[CollectorRegistry], bytes], openmetrics: bool) -> bytes:
        """What `/metrics` answers: `encoder` over the live registry, then the added texts."""
        body = encoder(self.live)
        extra = "".join(text(openmetrics) for text in self.texts).encode()
        if openmetrics and body.endswith(EOF):
            return body[: -len(EOF)] + extra + EOF
        return body + extra

    @classmethod
    def create(cls, environ: Mapping[str, str] | None = None) -> Telemetry:
        """Build the provider with the Prometheus reader, and OTLP when configured."""
        environ = os.environ if environ is None else environ
        live = CollectorRegistry(auto_describe=True)
        registry = CollectorRegistry(auto_describe=True)
        registry.register(_Forward(live))
        resource = build_resource(environ)
        fast = FastHistograms("sidecar.proxy", __version__, resource)
        readers: list[MetricReader] = [
            InjectingPrometheusReader(
                fast,
                disable_target_info=True,
                scope_info_enabled=False,
                registry=live,
                cardinality_limits=CARDINALITY_LIMITS,
            )
        ]
        if otlp_configured(environ):
            readers.append(_otlp_reader(environ, fast))
        views = [
            View(
                instrument_name="*duration*",
                meter_name="sidecar.proxy",  # GenAI instruments keep their advised buckets
                aggregation=ExplicitBucketHistogramAggregation(DURATION_BUCKETS),
            ),
            View(
                instrument_name="*body.size*",
                meter_name="sidecar.proxy",
                aggregation=ExplicitBucketHistogramAggregation(SIZE_BUCKETS),
            ),
        ]
        provider = MeterProvider(metric_readers=readers, resource=resource, views=views)
        tracer = build_tracer(environ, resource)
        return cls(provider=provider, registry=registry, fast=fast, tracer=tracer, live=live)

    def shutdown(self) -> None:
        """Flush OTLP metrics and spans, and stop the readers."""
        self.provider.shutdown()
        if self.tracer is not None:
            self.tracer.shutdown()


EOF = b"# EOF\n"


class _Forward:
    """Another registry's families, as one collector (no collection when registered)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def describe(self) -> list[PrometheusMetric]:
        return []

    def collect(self) -> Iterable[PrometheusMetric]:
        return self._registry.collect()


@functools.lru_cache(maxsize=4096)
def _route(path: str) -> str:
    return route_template(path)


@functools.lru_cache(maxsize=1024)
def _attributes(method: str, status: int, route: str) -> Mapping[str, str | int]:
    return {"http.request.method": method, "http.response.status_code": status, "http.route": route}


class HttpMetrics:
    """The hot-path instruments; `started` and `record` are called once per proxied request.

    The four histograms are `FastHistogram`s (about 1 us per record instead of about 20 us
    through the SDK), except the request duration when tracing is on: that one stays an SDK
    instrument so that its points carry exemplars linking to traces. In-flight requests, status
    classes and upstream errors are plain integers that observable instruments read at
    collection time. Everything is exported through the same readers.

    `record` counts in-flight requests (and an exemplar duration) at once and defers the rest to
    `FinishedRequests`, which folds before every read: the observable callbacks of errors and
    status classes, the fast histograms (`FastHistograms.before_collect`) and `stats`
    (`RequestStats.refresh`) each fold first, so readers see every finished request.
    """

    def __init__(self, telemetry: Telemetry, stats: RequestStats | None = None) -> None:
        meter = telemetry.provider.get_meter("sidecar.proxy", __version__)
        fast = telemetry.fast
        self.tracer = telemetry.tracer
        request_keys = ("http.request.method", "http.response.status_code", "http.route")
        method_key = ("http.request.method",)
        self.exemplar_duration = (
            None
            if self.tracer is None
            else meter.create_histogram(
                "http.server.request.duration", unit="s", description=DURATION_HELP
            )
        )
        self.duration = (
            fast.add(
                FastHistogram(
                    "http.server.request.duration",
                    "s",
                    DURATION_HELP,
                    DURATION_BUCKETS,
                    request_keys,
                )
            )
            if self.tracer is None
            else None
        )
        self.upstream = fast.add(
            FastHistogram(
                "sidecar.upstream.duration",
                "s",
                "Time from sending to the upstream until its response headers.",
                DURATION_BUCKETS,
                request_keys,
            )
        )
        self.request_size = fast.add(
            FastHistogram(
                "http.server.request.body.size",
                "By",
                "Request body size.",
                SIZE_BUCKETS,
                method_key,
            )
        )
        self.response_size = fast.add(
            FastHistogram(
                "http.server.response.body.size",
                "By",
                "Response body size.",
                SIZE_BUCKETS,
                method_key,
            )
        )
        self.in_flight: Counter[str] = Counter()
        self.error_counts: Counter[str] = Counter()
        self.class_counts: Counter[int] = Counter()
        meter.create_observable_up_down_counter(
            "http.server.active_requests",
            [self._observe_active],
            unit="{request}",
            description="Requests in flight.",
        )
        meter.create_observable_counter(
            "sidecar.upstream.errors",
            [self._observe_errors],
            unit="{error}",
            description="Upstream failures by kind.",
        )
        meter.create_observable_counter(
            "sidecar.upstream.connections.discarded",
            [self._observe_discarded],
            unit="{connection}",
            description="Upstream connections closed instead of reused, by reason.",
        )
        # The upstream pool's discard counts, set by the runtime once the forwarder exists.
        self.discarded: Mapping[str, int] = {}
        meter.create_observable_counter(
            "sidecar.responses",
            [self._observe_classes],
            unit="{response}",
            description="Responses by status class.",
        )
        # The status signals' traffic counts, owned by the runtime and fed from here.
        self.stats = stats
        self.finished = FinishedRequests(
            Sinks(
                self.duration,
                self.upstream,
                self.request_size,
                self.response_size,
                self.error_counts,
                self.class_counts,
                stats,
                _route,
                _KINDS,
            )
        )
        self._pending = self.finished.pending
        fast.before_collect.append(self.finished.fold)
        if stats is not None:
            stats.refresh = self.finished.fold

    def flush(self) -> None:
        """Count every request recorded so far into the instruments (any thread)."""
        self.finished.fold()

    def _observe_active(self, options: CallbackOptions) -> Iterable[Observation]:
        # list() copies in one step: the event loop may add a method meanwhile.
        active = list(self.in_flight.items())
        return [Observation(n, {"http.request.method": m}) for m, n in active]

    def _observe_errors(self, options: CallbackOptions) -> Iterable[Observation]:
        self.finished.fold()
        # Every kind from the start at 0, so rate() and alerts see the series before a failure.
        counts = dict.fromkeys(sorted(_KINDS), 0) | dict(self.error_counts)
        return [Observation(n, {"kind": k}) for k, n in counts.items()]

    def _observe_discarded(self, options: CallbackOptions) -> Iterable[Observation]:
        counts = dict.fromkeys(DISCARD_REASONS, 0) | dict(self.discarded)
        return [Observation(n, {"reason": k}) for k, n in counts.items()]

    def _observe_classes(self, options: CallbackOptions) -> Iterable[Observation]:
        self.finished.fold()
        classes = list(self.class_counts.items())
        return [Observation(n, {"status_class": f"{k}xx"}) for k, n in classes]

    def started(self, method: str) -> None:
        """A request arrived."""
        self.in_flight[method if method in _METHODS else "_OTHER"] += 1

    def record(
        self,
        method: str,
        path: str,
        status: int,
        duration: float,
        upstream_seconds: float | None,
        request_bytes: int,
        response_bytes: int,
        error_kind: str | None,
        span: Span | None = None,
    ) -> None:
        """Record one finished request (`span`: its trace span, for an exemplar)."""
        method = method if method in _METHODS else "_OTHER"
        self.in_flight[method] -= 1
        if self.exemplar_duration is not None:
            context = None if span is None else RequestTracer.context(span)
            attributes = _attributes(method, status, _route(path))
            self.exemplar_duration.record(duration, attributes, context=context)
        pending = self._pending
        pending.extend(
            (
                method,
                status,
                path,
                duration,
                upstream_seconds,
                request_bytes,
                response_bytes,
                error_kind,
                time.time(),
            )
        )
        if len(pending) >= FOLD_ITEMS:
            self.finished.fold(wait=False)


_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)
_KINDS = frozenset(ERROR_KINDS)
FOLD_ITEMS = FOLD_EVERY * FIELDS


def metric_names(registry: CollectorRegistry) -> Sequence[str]:
    """Names of the metric families a registry currently exports."""
    return sorted({family.name for family in registry.collect()})
