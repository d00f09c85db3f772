"""GenAI metrics through a real sidecar, the official `openai` client and a real mock server.

The upstream is `llm-mock-api` (PyPI), an OpenAI-compatible server that needs no model weights
and speaks chat completions (streamed with a `usage` chunk) and the Responses API (typed
events); it is served here from its FastAPI app by our threaded uvicorn. A stream cut off by
the upstream comes from a small in-repo Starlette upstream, because the mock cannot cut one.
Sampling is 1.0, so every request is counted.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from llm_mock_api.mock_server import MockServer, MockServerOptions
from llm_mock_api.types.reply import ReplyObject, Usage
from openai import OpenAI
from prom import needs_prometheus, running_prometheus
from servers import SidecarHandle, ThreadedUvicorn, running_sidecar, serve_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from sidecar.export.telemetry import metric_names

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "model-sidecar.json"
LLM_RULES = ROOT / "deploy" / "rules" / "sidecar-llm.yaml"
PREFIXES = ("gen_ai_", "sidecar_gen_ai_")
STREAMS = 3
PLAIN = 2
CHUNK_DELAY_MS = 40


def _chunk(content: str) -> str:
    delta = {"choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}
    return f"data: {json.dumps({'model': 'cut', **delta})}\n\n"


async def _cut(request: Request) -> StreamingResponse:
    """Two content chunks, then the connection breaks (no finish, no [DONE])."""

    async def events() -> Any:
        yield _chunk("a")
        await asyncio.sleep(0.05)
        yield _chunk("b")
        await asyncio.sleep(0.05)
        raise RuntimeError("upstream died mid-stream")

    return StreamingResponse(events(), media_type="text/event-stream")


@pytest.fixture(scope="module")
def mock() -> Iterator[ThreadedUvicorn]:
    """llm-mock-api answering every prompt with five words and a usage of 11 in, 5 out."""
    server = MockServer(MockServerOptions(default_latency=CHUNK_DELAY_MS, default_chunk_size=4))
    server.fallback(ReplyObject(text="one two three four five", usage=Usage(input=11, output=5)))
    # A long answer (about 4 s of chunks) for the client that leaves early.
    server.when("long story").reply(ReplyObject(text="word " * 400, usage=Usage(1, 400)))
    with serve_app(server._app) as running:
        yield running


@pytest.fixture(scope="module")
def sidecar(mock: ThreadedUvicorn) -> Iterator[SidecarHandle]:
    with running_sidecar(mock.url, sample_rate=1.0) as handle:
        yield handle


def _sum(handle: SidecarHandle, name: str, **labels: str) -> float:
    """Sum of a sample over every series whose labels include `labels`, once every exchange
    has finished (a client may have its last chunk before the proxy finishes) and been analysed."""
    deadline = time.monotonic() + 10
    while sum(handle.runtime.http_metrics.in_flight.values()) and time.monotonic() < deadline:
        time.sleep(0.01)
    handle.runtime.worker.wait_idle()
    total = 0.0
    for family in handle.runtime.telemetry.registry.collect():
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


class TestOpenAIClient:
    def test_streams_and_plain_answers_are_counted_exactly(self, sidecar: SidecarHandle) -> None:
        """TTFT counts exactly the successful streams, token totals equal the usage the client
        received, finish reasons are counted per answer, and an error adds none of them. The
        SDK closes each stream after `[DONE]`, before the body's last chunk: no client abort."""
        client = OpenAI(base_url=sidecar.url + "/v1", api_key="test", max_retries=0)
        messages: Any = [{"role": "user", "content": "count to five"}]
        received = {"input": 0, "output": 0}
        aborts = _sum(sidecar, "sidecar_upstream_errors_total", kind="client_aborted")
        for _ in range(STREAMS):
            stream = client.chat.completions.create(
                model="mock-chat",
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
            )
            usage = [c.usage for c in stream if c.usage is not None][-1]
            received["input"] += usage.prompt_tokens
            received["output"] += usage.completion_tokens
        for _ in range(PLAIN):
            answer = client.chat.completions.create(model="mock-chat", messages=messages)
            assert answer.usage is not None and answer.choices[0].finish_reason == "stop"
            received["input"] += answer.usage.prompt_tokens
            received["output"] += answer.usage.completion_tokens
        chat = {"gen_ai_operation_name": "chat", "gen_ai_request_model": "mock-chat"}
        ttft = "gen_ai_server_time_to_first_token_seconds_count"
        assert _sum(sidecar, ttft, **chat) == STREAMS
        assert _sum(sidecar, "sidecar_upstream_errors_total", kind="client_aborted") == aborts
        assert _sum(sidecar, "gen_ai_server_time_per_output_token_seconds_count", **chat) == (
            STREAMS
        )
        assert _sum(sidecar, "gen_ai_server_request_duration_seconds_count", **chat) == (
            STREAMS + PLAIN
        )
        for kind in ("input", "output"):
            tokens = _sum(sidecar, "gen_ai_client_token_usage_sum", gen_ai_token_type=kind, **chat)
            assert tokens == received[kind]
        finishes = "sidecar_gen_ai_finish_reasons_total"
        assert _sum(sidecar, finishes, gen_ai_response_finish_reason="stop", **chat) == (
            STREAMS + PLAIN
        )

    def test_responses_api_stream_and_plain(self, sidecar: SidecarHandle) -> None:
        """The Responses API is its own operation: one TTFT for the stream, usage for both."""
        client = OpenAI(base_url=sidecar.url + "/v1", api_key="test", max_retries=0)
        output = 0
        with client.responses.stream(model="mock-resp", input="count to five") as stream:
            for _ in stream:
                pass
            final = stream.get_final_response()
        assert final.usage is not None
        output += final.usage.output_tokens
        plain = client.responses.create(model="mock-resp", input="count to five")
        assert plain.usage is not None
        output += plain.usage.output_tokens
        op = {"gen_ai_operation_name": "responses", "gen_ai_request_model": "mock-resp"}
        assert _sum(sidecar, "gen_ai_server_time_to_first_token_seconds_count", **op) == 1
        tokens = _sum(sidecar, "gen_ai_client_token_usage_sum", gen_ai_token_type="output", **op)
        assert tokens == output

    def test_streamed_chunks_reach_the_client_as_produced(self, sidecar: SidecarHandle) -> None:
        """Through a sampled request the first content chunk arrives long before the last."""
        client = OpenAI(base_url=sidecar.url + "/v1", api_key="test", max_retries=0)
        arrivals = []
        stream = client.chat.completions.create(
            model="timing", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                arrivals.append(time.monotonic())
        assert len(arrivals) >= 5
        assert arrivals[-1] - arrivals[0] > 3 * CHUNK_DELAY_MS / 1000

    def test_time_to_first_token_is_the_first_content_chunk(self, sidecar: SidecarHandle) -> None:
        """The mock sends the role chunk at once and the first content chunk 40 ms later: the
        sidecar's TTFT is at least those 40 ms (a first-byte time would be a few ms) and at most
        what the client itself saw."""
        client = OpenAI(base_url=sidecar.url + "/v1", api_key="test", max_retries=0)
        started = time.monotonic()
        stream = client.chat.completions.create(
            model="ttft", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        seen = None
        for chunk in stream:
            if seen is None and chunk.choices and chunk.choices[0].delta.content:
                seen = time.monotonic() - started
        ttft = {"gen_ai_request_model": "ttft"}
        assert _sum(sidecar, "gen_ai_server_time_to_first_token_seconds_count", **ttft) == 1
        measured = _sum(sidecar, "gen_ai_server_time_to_first_token_seconds_sum", **ttft)
        assert seen is not None
        assert CHUNK_DELAY_MS / 1000 <= measured <= seen

    def test_client_closing_a_stream_counts_as_aborted(self, sidecar: SidecarHandle) -> None:
        """A client that stops reading after the first content chunk leaves one aborted finish,
        one client abort and no TTFT."""
        client = OpenAI(base_url=sidecar.url + "/v1", api_key="test", max_retries=0)
        aborts = _sum(sidecar, "sidecar_upstream_errors_total", kind="client_aborted")
        stream = client.chat.completions.create(
            model="leaver", messages=[{"role": "user", "content": "long story"}], stream=True
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                break
        stream.close()
        deadline = time.monotonic() + 10
        aborted = {"gen_ai_response_finish_reason": "aborted", "gen_ai_request_model": "leaver"}
        while time.monotonic() < deadline:
            if _sum(sidecar, "sidecar_gen_ai_finish_reasons_total", **aborted) == 1:
                break
            time.sleep(0.05)
        assert _sum(sidecar, "sidecar_gen_ai_finish_reasons_total", **aborted) == 1
        leaver = {"gen_ai_request_model": "leaver"}
        assert _sum(sidecar, "gen_ai_server_time_to_first_token_seconds_count", **leaver) == 0
        assert _sum(sidecar, "sidecar_upstream_errors_total", kind="client_aborted") == aborts + 1

    def test_genai_families_match_the_catalogue(self, sidecar: SidecarHandle) -> None:
        """Every GenAI family exported after LLM traffic is in docs/metrics.md, and back."""
        exported = {
            n for n in metric_names(sidecar.runtime.telemetry.registry) if n.startswith(PREFIXES)
        }
        text = (Path(__file__).resolve().parents[2] / "docs" / "metrics.md").read_text()
        listed = set(re.findall(r"^\| `([a-z_:]+)` \|", text, re.M))
        assert {n.removesuffix("_total") for n in listed if n.startswith(PREFIXES)} == exported


def _send_llm_traffic(client: OpenAI) -> None:
    """Two streams and one plain answer, so every LLM panel has a series."""
    messages: Any = [{"role": "user", "content": "count to five"}]
    for _ in range(2):
        for _ in client.chat.completions.create(model="dash", messages=messages, stream=True):
            pass
    client.chat.completions.create(model="dash", messages=messages)


@pytest.mark.prometheus
@needs_prometheus
class TestDashboardQueries:
    def test_every_llm_dashboard_query_returns_data(
        self, sidecar: SidecarHandle, tmp_path: Path
    ) -> None:
        """Each query of the dashboard's LLM row has a result from a real Prometheus scraping a
        sidecar in front of the mock server."""
        path = Path(__file__).resolve().parents[1] / "deploy" / "dashboard_queries.py"
        spec = importlib.util.spec_from_file_location("dashboard_queries", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        queries = [q for q in module.dashboard_queries(DASHBOARD) if "gen_ai_" in q]
        assert len(queries) >= 6
        client = OpenAI(base_url=sidecar.url + "/v1", api_key="test", max_retries=0)
        target = sidecar.admin_url.removeprefix("http://")
        with running_prometheus(tmp_path / "prom", [target]) as prom:
            prom.wait_for("up == 1")
            _send_llm_traffic(client)
            # A second burst a few scrapes later, so rate() over 1m has an increase to show.
            prom.wait_for("count_over_time(up[1m]) >= 3")
            _send_llm_traffic(client)
            _sum(sidecar, "gen_ai_server_request_duration_seconds_count")
            prom.wait_for("sum(rate(gen_ai_server_time_to_first_token_seconds_count[1m])) > 0")
            empty = [q for q in queries if not prom.query(q)]
        assert empty == []


def _leave_early(client: OpenAI, model: str) -> None:
    """Start a long stream and close it after the first content chunk."""
    messages: Any = [{"role": "user", "content": "long story"}]
    stream = client.chat.completions.create(model=model, messages=messages, stream=True)
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            break
    stream.close()


@pytest.mark.prometheus
@needs_prometheus
class TestAlerts:
    def test_aborted_streams_fire_in_a_real_prometheus(
        self, sidecar: SidecarHandle, tmp_path: Path
    ) -> None:
        """With `for:` cut to 2 s, SidecarLLMStreamsAborted fires for a model whose clients cut
        3 of 23 answers, evaluated by a real Prometheus on the sidecar's own series."""
        doc = yaml.safe_load(LLM_RULES.read_text())
        for group in doc["groups"]:
            for rule in group["rules"]:
                rule["for"] = "2s"
        rules = tmp_path / "llm.yaml"
        rules.write_text(yaml.safe_dump(doc, sort_keys=False))
        client = OpenAI(base_url=sidecar.url + "/v1", api_key="test", max_retries=0)
        messages: Any = [{"role": "user", "content": "hi"}]
        target = sidecar.admin_url.removeprefix("http://")
        with running_prometheus(tmp_path / "prom", [target], rules=[rules]) as prom:
            # Both series must exist before the counted traffic: rate() ignores first values.
            client.chat.completions.create(model="flaky", messages=messages)
            _leave_early(client, "flaky")
            _sum(sidecar, "sidecar_gen_ai_finish_reasons_total")
            seen = 'count(sidecar_gen_ai_finish_reasons_total{gen_ai_request_model="flaky"}) == 2'
            prom.wait_for(seen)
            for _ in range(20):
                client.chat.completions.create(model="flaky", messages=messages)
            for _ in range(3):
                _leave_early(client, "flaky")

            def firing(alerts: list[dict[str, Any]]) -> bool:
                return any(
                    a["labels"]["alertname"] == "SidecarLLMStreamsAborted"
                    and a["labels"].get("gen_ai_request_model") == "flaky"
                    and a["state"] == "firing"
                    for a in alerts
                )

            deadline = time.monotonic() + 30
            while not firing(prom.alerts()) and time.monotonic() < deadline:
                time.sleep(0.5)
            assert firing(prom.alerts())


class TestCutUpstream:
    def test_upstream_cut_mid_stream_counts_as_aborted(self) -> None:
        """An upstream that breaks the stream mid-way: one aborted finish, error.type aborted,
        no TTFT, and the pair stays out of drift analysis."""
        app = Starlette(routes=[Route("/v1/chat/completions", _cut, methods=["POST"])])
        with serve_app(app) as upstream, running_sidecar(upstream.url, sample_rate=1.0) as sc:
            body = {"model": "cut", "messages": [{"role": "user", "content": "x"}], "stream": True}
            with (
                pytest.raises(httpx.HTTPError),
                httpx.stream("POST", sc.url + "/v1/chat/completions", json=body) as response,
            ):
                for _ in response.iter_bytes():
                    pass
            aborted = {"gen_ai_response_finish_reason": "aborted"}
            assert _sum(sc, "sidecar_gen_ai_finish_reasons_total", **aborted) == 1
            errors = _sum(sc, "gen_ai_server_request_duration_seconds_count", error_type="aborted")
            assert errors == 1
            assert _sum(sc, "gen_ai_server_time_to_first_token_seconds_count") == 0
            assert sc.runtime.monitor.counters().models == ()
