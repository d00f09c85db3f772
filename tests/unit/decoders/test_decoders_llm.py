"""LLM calls for the GenAI metrics: tokens, finish reasons and timing, per server's wire format.

The vLLM, TGI and Ollama payloads are written from their OpenAI-compatible servers' documented
chunk shapes (vLLM `stream_options.include_usage` and `continuous_usage_stats`, TGI's
`eos_token` finish reason and usage-less streams, Ollama's `fp_ollama` fingerprint); no model
server runs here.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Callable

import numpy as np
import pytest
from scipy.stats import ks_2samp

from sidecar.decoders import DecodeOptions, decode_pair
from sidecar.decoders.embeddings import directions, embedding_predictions
from sidecar.decoders.llm import finish_label, llm_call
from sidecar.records import Captured

CapturedFactory = Callable[..., Captured]
SSE = "text/event-stream"
CHAT = {"model": "m", "messages": [{"role": "user", "content": "Hi"}], "stream": True}


def sse(*events: object, done: bool = True) -> bytes:
    """A text/event-stream body of JSON events, optionally ended by [DONE]."""
    lines = [f"data: {json.dumps(event)}\n\n" for event in events]
    return ("".join(lines) + ("data: [DONE]\n\n" if done else "")).encode()


def marks(body: bytes, step: float = 0.1) -> tuple[tuple[int, float], ...]:
    """Capture marks for `body` arriving one SSE event per chunk, `step` seconds apart."""
    ends = [i + 2 for i in range(len(body) - 1) if body[i : i + 2] == b"\n\n"]
    return tuple((end, round(step * (n + 1), 6)) for n, end in enumerate(ends))


def delta(finish: str | None = None, **fields: object) -> dict[str, object]:
    """One chat.completion.chunk with a delta."""
    return {"model": "m-resp", "choices": [{"index": 0, "delta": fields, "finish_reason": finish}]}


def stream_pair(captured: CapturedFactory, body: bytes, **fields: object) -> Captured:
    return captured(
        "/v1/chat/completions", CHAT, body, response_content_type=SSE, marks=marks(body), **fields
    )


class TestStreams:
    def test_openai_stream_with_usage_chunk(self, captured: CapturedFactory) -> None:
        """The role chunk is not a token: TTFT is the first content chunk's time, tokens are
        the usage chunk's, time per output token spans first to last content chunk."""
        body = sse(
            delta(role="assistant"),
            delta(content="Hel"),
            delta(content="lo"),
            delta(content="!"),
            delta("stop"),
            {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3}},
        )
        call = llm_call(stream_pair(captured, body))
        assert call is not None and call.error_type is None
        assert call.operation == "chat" and call.response_model == "m-resp"
        assert call.time_to_first_token == 0.2
        assert call.time_per_output_token == pytest.approx((0.4 - 0.2) / 2)
        assert (call.input_tokens, call.output_tokens, call.token_source) == (7, 3, "reported")
        assert call.finish_reasons == ("stop",)

    def test_vllm_continuous_usage_keeps_the_last(self, captured: CapturedFactory) -> None:
        """vLLM's cumulative usage on every chunk counts once, as its final value."""
        body = sse(
            {**delta(content="a"), "usage": {"prompt_tokens": 4, "completion_tokens": 1}},
            {**delta("length", content="b"), "usage": {"prompt_tokens": 4, "completion_tokens": 2}},
        )
        call = llm_call(stream_pair(captured, body))
        assert call is not None
        assert (call.input_tokens, call.output_tokens) == (4, 2)
        assert call.finish_reasons == ("length",)
        assert call.time_to_first_token == 0.1

    def test_tgi_stream_without_usage_is_counted(self, captured: CapturedFactory) -> None:
        """A stream without usage counts its content chunks; TGI's eos_token means stop."""
        tgi = {"system_fingerprint": "2.0.4-sha-f426a33"}
        body = sse(
            {**delta(role="assistant", content="x"), **tgi},
            {**delta(content="y"), **tgi},
            {**delta("eos_token", content=""), **tgi},
        )
        call = llm_call(stream_pair(captured, body))
        assert call is not None
        assert (call.output_tokens, call.token_source, call.input_tokens) == (2, "counted", None)
        assert call.finish_reasons == ("stop",)

    def test_ollama_tool_call_delta_is_the_first_token(self, captured: CapturedFactory) -> None:
        """A tool-call delta is output: it sets time to first token and is counted."""
        call_delta = [{"index": 0, "id": "call_1", "function": {"name": "f", "arguments": ""}}]
        body = sse(
            {**delta(role="assistant"), "system_fingerprint": "fp_ollama"},
            {**delta(tool_calls=call_delta), "system_fingerprint": "fp_ollama"},
            {**delta("tool_calls"), "system_fingerprint": "fp_ollama"},
            {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 5}},
        )
        call = llm_call(stream_pair(captured, body))
        assert call is not None
        assert call.time_to_first_token == 0.2
        assert call.finish_reasons == ("tool_calls",)
        assert call.output_tokens == 5

    def test_vllm_text_completion_stream(self, captured: CapturedFactory) -> None:
        """A /v1/completions stream is text_completion; `text` chunks are the content and
        vLLM's extra `stop_reason` field is ignored."""
        choice = {"index": 0, "logprobs": None, "stop_reason": None}
        body = sse(
            {
                "object": "text_completion",
                "choices": [{**choice, "text": "a", "finish_reason": None}],
            },
            {
                "object": "text_completion",
                "choices": [{**choice, "text": "b", "finish_reason": None}],
            },
            {"choices": [{**choice, "text": "", "finish_reason": "length", "stop_reason": None}]},
            {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}},
        )
        pair = captured(
            "/v1/completions",
            {"model": "m", "prompt": "x", "stream": True},
            body,
            response_content_type=SSE,
            marks=marks(body),
        )
        call = llm_call(pair)
        assert call is not None and call.operation == "text_completion"
        assert (call.time_to_first_token, call.output_tokens) == (0.1, 2)
        assert call.time_per_output_token == pytest.approx(0.1)
        assert call.finish_reasons == ("length",)

    def test_cut_stream_is_aborted(self, captured: CapturedFactory) -> None:
        """A stream cut off (incomplete exchange, or no [DONE]) is aborted, with no TTFT."""
        body = sse(delta(content="a"), delta(content="b"), done=False)
        for complete in (False, True):
            call = llm_call(stream_pair(captured, body[:-5], complete=complete))
            assert call is not None
            assert call.error_type == "aborted" and call.finish_reasons == ("aborted",)
            assert call.time_to_first_token is None and call.output_tokens is None

    def test_error_answer_has_no_timing(self, captured: CapturedFactory) -> None:
        """An error status records its code and no finish reason, tokens or TTFT."""
        pair = captured("/v1/chat/completions", CHAT, {"error": {"message": "x"}}, status=429)
        call = llm_call(pair)
        assert call is not None
        assert (call.error_type, call.finish_reasons, call.time_to_first_token) == ("429", (), None)


class TestPlainAndOtherApis:
    def test_plain_chat_has_no_time_to_first_token(self, captured: CapturedFactory) -> None:
        """A whole answer gives tokens and one finish reason per choice, never a TTFT."""
        answer = {
            "model": "m",
            "choices": [
                {"index": 0, "message": {"content": "a"}, "finish_reason": "stop"},
                {"index": 1, "message": {"content": "b"}, "finish_reason": "content_filter"},
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        }
        call = llm_call(captured("/v1/chat/completions", CHAT, answer, first_byte=0.1))
        assert call is not None and not call.streamed
        assert call.finish_reasons == ("stop", "content_filter")
        assert call.time_to_first_token is None and call.output_tokens == 2

    def test_responses_api_stream(self, captured: CapturedFactory) -> None:
        """Responses events: text deltas are tokens, the terminal event gives usage."""
        final = {
            "model": "gpt-x",
            "status": "incomplete",
            "incomplete_details": {"reason": "max_output_tokens"},
            "output": [{"type": "message", "content": [{"type": "output_text", "text": "ab"}]}],
            "usage": {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7},
        }
        body = sse(
            {"type": "response.created", "response": {"model": "gpt-x", "status": "in_progress"}},
            {"type": "response.output_text.delta", "delta": "a"},
            {"type": "response.output_text.delta", "delta": "b"},
            {"type": "response.incomplete", "response": final},
            done=False,
        )
        pair = captured(
            "/v1/responses",
            {"model": "gpt-x", "input": "hi", "stream": True},
            body,
            response_content_type=SSE,
            marks=marks(body),
        )
        call = llm_call(pair)
        assert call is not None and call.operation == "responses"
        assert call.finish_reasons == ("length",)
        assert (call.input_tokens, call.output_tokens, call.time_to_first_token) == (5, 2, 0.2)
        decoded = decode_pair(pair, DecodeOptions())
        assert decoded.predictions["finish_reason"] == ["length"]
        assert decoded.predictions["completion_chars"] == [2.0]
        assert decoded.predictions["stream_completed"] == ["true"]
        assert decoded.features["input_count"] == [1.0]

    def test_responses_api_plain_function_call(self, captured: CapturedFactory) -> None:
        """A completed response with a function call finishes with tool_calls."""
        answer = {
            "model": "gpt-x",
            "status": "completed",
            "output": [{"type": "function_call", "name": "f", "arguments": "{}"}],
            "usage": {"input_tokens": 5, "output_tokens": 4},
        }
        request = {"model": "gpt-x", "input": [{"role": "user", "content": "hey"}], "tools": [{}]}
        decoded = decode_pair(captured("/v1/responses", request, answer), DecodeOptions())
        assert decoded.predictions["finish_reason"] == ["tool_calls"]
        assert decoded.predictions["completion_tokens"] == [4.0]
        assert decoded.features["prompt_chars"] == [3.0]
        assert decoded.features["tool_count"] == [1.0]

    def test_embeddings_norm_and_input_tokens(self, captured: CapturedFactory) -> None:
        """Embeddings count input tokens only; the norm is the mean L2 norm, base64 or not."""
        vectors = np.array([[3.0, 4.0], [1.0, 0.0]])
        packed = base64.b64encode(struct.pack("<2f", *vectors[0])).decode()
        answer = {
            "data": [{"embedding": packed}, {"embedding": list(vectors[1])}],
            "usage": {"prompt_tokens": 6, "total_tokens": 6},
        }
        pair = captured("/v1/embeddings", {"model": "e", "input": ["a", "b"]}, answer)
        call = llm_call(pair)
        assert call is not None and call.operation == "embeddings"
        assert (call.input_tokens, call.output_tokens, call.finish_reasons) == (6, None, ())
        decoded = decode_pair(pair, DecodeOptions())
        expected = np.linalg.norm(vectors, axis=1).mean()
        assert decoded.predictions["embedding_norm"] == [pytest.approx(expected)]

    def test_finish_reasons_are_a_closed_set(self) -> None:
        """Server-specific reasons map onto the known labels; anything else is other."""
        assert [finish_label(r) for r in ("abort", "stop_sequence", "weird", None)] == [
            "aborted",
            "stop",
            "other",
            None,
        ]


class TestEmbeddingDirection:
    def test_projections_match_numpy(self, captured: CapturedFactory) -> None:
        """Each direction column is the mean projection of the unit vectors on the fixed basis."""
        rng = np.random.default_rng(3)
        vectors = rng.normal(size=(5, 32))
        answer = {"data": [{"embedding": list(v)} for v in vectors]}
        pair = captured("/v1/embeddings", {"model": "e", "input": ["a"] * 5}, answer)
        predictions = decode_pair(pair, DecodeOptions()).predictions
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        expected = (unit @ directions(32)).mean(axis=0)
        got = [predictions[f"embedding_direction_{i}"][0] for i in range(4)]
        assert got == pytest.approx(list(expected), abs=1e-12)
        assert directions(32) == pytest.approx(directions(32).copy())  # fixed, not redrawn

    def test_a_turn_of_the_mean_direction_moves_the_columns(self) -> None:
        """Requests around a new mean direction give projections whose distribution differs
        from the reference's (two-sample KS test, p < 1e-6), equal norms notwithstanding."""
        rng = np.random.default_rng(4)
        dimension = 64
        before, after = rng.normal(size=(2, dimension))

        def columns(centre: np.ndarray) -> np.ndarray:
            rows = []
            for _ in range(300):
                vectors = centre + 0.5 * rng.normal(size=(3, dimension))
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                cells = embedding_predictions(
                    {"data": [{"embedding": v.tolist()} for v in vectors]}
                )
                rows.append([cells[f"embedding_direction_{i}"] for i in range(4)])
            return np.array(rows, dtype=float)

        reference, current = columns(before), columns(after)
        pvalues = [ks_2samp(reference[:, i], current[:, i]).pvalue for i in range(4)]
        assert min(pvalues) < 1e-6
        same = columns(before)
        assert min(ks_2samp(reference[:, i], same[:, i]).pvalue for i in range(4)) > 1e-4
