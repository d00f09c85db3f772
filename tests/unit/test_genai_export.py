"""The GenAI instruments as OpenTelemetry sees them: names, units, attributes, buckets, bounds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from sidecar.decoders.llm import LLMCall
from sidecar.export.genai import (
    DURATION_BUCKETS,
    TOKEN_BUCKETS,
    TTFT_BUCKETS,
    GenAIMetrics,
)
from sidecar.records import Captured

STREAM = LLMCall(
    "chat",
    "llama",
    "llama-3",
    True,
    2.0,
    finish_reasons=("stop", "length"),
    input_tokens=10,
    output_tokens=41,
    token_source="counted",
    time_to_first_token=0.4,
    time_per_output_token=0.04,
)


def _metrics(reader: InMemoryMetricReader) -> dict[str, Any]:
    data = reader.get_metrics_data()
    assert data is not None
    return {
        metric.name: metric
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }


def _setup() -> tuple[GenAIMetrics, InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    return GenAIMetrics(MeterProvider(metric_readers=[reader])), reader


class TestInstruments:
    def test_semantic_convention_names_units_and_attributes(self) -> None:
        """A stream records on every instrument with the conventions' names, units, dotted
        attributes and advised bucket boundaries."""
        genai, reader = _setup()
        genai.record(STREAM)
        metrics = _metrics(reader)
        units = {name: metric.unit for name, metric in metrics.items()}
        assert units == {
            "gen_ai.server.request.duration": "s",
            "gen_ai.server.time_to_first_token": "s",
            "gen_ai.server.time_per_output_token": "s",
            "gen_ai.client.token.usage": "{token}",
            "sidecar.gen_ai.server.output_tokens": "{token}/s",
            "sidecar.gen_ai.finish_reasons": "{choice}",
        }
        ttft = metrics["gen_ai.server.time_to_first_token"].data.data_points[0]
        assert dict(ttft.attributes) == {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "llama",
            "gen_ai.response.model": "llama-3",
        }
        assert tuple(ttft.explicit_bounds) == TTFT_BUCKETS
        duration = metrics["gen_ai.server.request.duration"].data.data_points[0]
        assert tuple(duration.explicit_bounds) == DURATION_BUCKETS
        tokens = {
            p.attributes["gen_ai.token.type"]: p
            for p in metrics["gen_ai.client.token.usage"].data.data_points
        }
        assert tuple(tokens["input"].explicit_bounds) == TOKEN_BUCKETS
        assert (tokens["input"].sum, tokens["output"].sum) == (10, 41)
        assert tokens["output"].attributes["sidecar.token.source"] == "counted"
        speed = metrics["sidecar.gen_ai.server.output_tokens"].data.data_points[0]
        assert speed.sum == 41 / 2.0
        reasons = {
            p.attributes["gen_ai.response.finish_reason"]: p.value
            for p in metrics["sidecar.gen_ai.finish_reasons"].data.data_points
        }
        assert reasons == {"stop": 1, "length": 1}

    def test_failed_call_records_duration_with_error_type_only(self) -> None:
        """An aborted stream adds its duration (error.type=aborted) and its aborted finish."""
        genai, reader = _setup()
        genai.record(replace(STREAM, error_type="aborted", finish_reasons=("aborted",)))
        metrics = _metrics(reader)
        assert set(metrics) == {"gen_ai.server.request.duration", "sidecar.gen_ai.finish_reasons"}
        point = metrics["gen_ai.server.request.duration"].data.data_points[0]
        assert point.attributes["error.type"] == "aborted"

    def test_model_names_are_bounded(self) -> None:
        """Past 16 distinct model names, further ones are recorded as `other`."""
        genai, reader = _setup()
        for i in range(20):
            genai.record(replace(STREAM, request_model=f"m{i}", response_model=f"m{i}"))
        points = _metrics(reader)["gen_ai.server.request.duration"].data.data_points
        models = {p.attributes["gen_ai.request.model"] for p in points}
        assert len(models) == 17 and "other" in models


def _pair(path: str, complete: bool = True) -> Captured:
    return Captured("r", "POST", path, "", 200, (), b"{}", b"", 0.0, 0.1, complete=complete)


class TestSink:
    def test_incomplete_pairs_stay_out_of_drift_analysis(self) -> None:
        """The sink hands only complete pairs to the monitor, in order."""
        genai, _ = _setup()
        seen: list[Sequence[Captured]] = []
        sink = genai.sink(lambda batch, now: seen.append(batch))
        pairs = [_pair("/v1/chat/completions"), _pair("/v1/chat/completions", False)]
        sink(pairs, 0.0)
        assert seen == [[pairs[0]]]

    def test_only_openai_routes_unless_configured(self) -> None:
        """By route in auto mode; every path with protocol openai; none with another protocol."""
        auto, forced, other = (GenAIMetrics(MeterProvider(), p) for p in (None, "openai", "mlflow"))
        routes = ["/v1/chat/completions", "/openai/v1/responses", "/v1/models/m:predict", "/x"]
        assert [auto.wanted(_pair(r)) for r in routes] == [True, True, False, False]
        assert all(forced.wanted(_pair(r)) for r in routes)
        assert not any(other.wanted(_pair(r)) for r in routes)
