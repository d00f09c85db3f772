"""OpenAI-compatible chat, completions and embeddings, whole and streamed (SSE)."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Callable

import numpy as np
import pytest

from sidecar.decoders import DecodeOptions, decode_pair
from sidecar.decoders.openai import OpenAIDecoder
from sidecar.records import Captured

CapturedFactory = Callable[..., Captured]
DECODER = OpenAIDecoder()
OPTIONS = DecodeOptions()

CHAT_REQUEST = {
    "model": "llama-3-8b",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Hi there"}]},
    ],
    "temperature": 0.2,
    "max_tokens": 64,
}
CHAT_RESPONSE = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "llama-3-8b",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Hello!"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
}


def sse(*events: object, done: bool = True) -> bytes:
    """A text/event-stream body of JSON events, optionally ended by [DONE]."""
    lines = [f"data: {json.dumps(event)}\n\n" for event in events]
    return ("".join(lines) + ("data: [DONE]\n\n" if done else "")).encode()


def marks(body: bytes, step: float = 0.1) -> tuple[tuple[int, float], ...]:
    """Capture marks for `body` arriving one SSE event per chunk, `step` seconds apart."""
    ends = [i + 2 for i in range(len(body) - 1) if body[i : i + 2] == b"\n\n"]
    return tuple((end, round(step * (n + 1), 6)) for n, end in enumerate(ends))


def chunk(content: str | None, finish: str | None = None) -> dict[str, object]:
    """One chat.completion.chunk event."""
    delta = {} if content is None else {"content": content}
    return {
        "object": "chat.completion.chunk",
        "choices": [{"delta": delta, "finish_reason": finish}],
    }


class TestChat:
    def test_request_features_and_response_predictions(self) -> None:
        """A chat pair is one row of prompt features and answer predictions."""
        decoded = DECODER.decode("/v1/chat/completions", CHAT_REQUEST, CHAT_RESPONSE, OPTIONS)
        assert decoded.n_rows == 1
        assert decoded.model == "llama-3-8b"
        features, predictions = decoded.features, decoded.predictions
        assert features["message_count"] == [2.0]
        assert features["prompt_chars"] == [float(len("Be brief.") + len("Hi there"))]
        assert features["temperature"] == [0.2]
        assert features["max_tokens"] == [64.0]
        assert features["model"] == ["llama-3-8b"]
        assert features["stream"] == ["false"]
        assert predictions["completion_chars"] == [6.0]
        assert predictions["finish_reason"] == ["stop"]
        assert predictions["prompt_tokens"] == [12.0]
        assert predictions["completion_tokens"] == [3.0]

    def test_streamed_response_is_reassembled(self, captured: CapturedFactory) -> None:
        """SSE chunks are counted and their deltas summed; time to first token is the time of
        the first chunk with content (the second one here), not of the role-only first chunk."""
        body = sse(
            chunk(None),
            chunk("Hel"),
            chunk("lo!"),
            chunk(None, "length"),
            {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}},
        )
        pair = captured(
            "/v1/chat/completions",
            {**CHAT_REQUEST, "stream": True},
            body,
            response_content_type="text/event-stream; charset=utf-8",
            first_byte=0.1,
            marks=marks(body),
        )
        decoded = decode_pair(pair, OPTIONS)
        assert decoded.protocol == "openai"
        assert decoded.features["stream"] == ["true"]
        assert decoded.predictions["chunk_count"] == [5.0]
        assert decoded.predictions["completion_chars"] == [6.0]
        assert decoded.predictions["finish_reason"] == ["length"]
        assert decoded.predictions["completion_tokens"] == [2.0]
        assert decoded.predictions["stream_completed"] == ["true"]
        assert decoded.predictions["time_to_first_token_seconds"] == [0.2]

    def test_no_time_to_first_token_for_plain_or_failed_answers(
        self, captured: CapturedFactory
    ) -> None:
        """A plain answer, or an error answer, has no time to first token even with a first
        byte time."""
        plain = captured("/v1/chat/completions", CHAT_REQUEST, CHAT_RESPONSE, first_byte=0.2)
        assert "time_to_first_token_seconds" not in decode_pair(plain, OPTIONS).predictions
        body = sse(chunk("Hi"), chunk(None, "stop"))
        failed = captured("/v1/chat/completions", CHAT_REQUEST, body, status=500, marks=marks(body))
        assert "time_to_first_token_seconds" not in decode_pair(failed, OPTIONS).predictions

    def test_cut_stream_is_not_completed(self, captured: CapturedFactory) -> None:
        """A stream without [DONE], detected by its bytes alone, reports it was cut."""
        pair = captured("/v1/chat/completions", CHAT_REQUEST, sse(chunk("Hi"), done=False))
        decoded = decode_pair(pair, OPTIONS)
        assert decoded.predictions["stream_completed"] == ["false"]
        assert decoded.predictions["completion_chars"] == [2.0]
        assert "time_to_first_token_seconds" not in decoded.predictions

    def test_missing_response_gives_missing_predictions(self) -> None:
        """Without a response the prediction cells are None."""
        decoded = DECODER.decode("/v1/chat/completions", CHAT_REQUEST, None, OPTIONS)
        assert decoded.predictions["completion_chars"] == [None]
        assert decoded.predictions["finish_reason"] == [None]


class TestCompletionsAndEmbeddings:
    def test_legacy_completions(self) -> None:
        """`prompt` strings are measured and choice `text` is the completion."""
        request = {"model": "gpt-3.5-turbo-instruct", "prompt": ["ab", "cde"], "max_tokens": 5}
        response = {"choices": [{"text": "xyz", "finish_reason": "stop"}]}
        decoded = DECODER.decode("/v1/completions", request, response, OPTIONS)
        assert decoded.features["prompt_chars"] == [5.0]
        assert decoded.predictions["completion_chars"] == [3.0]

    def test_embeddings_with_float_vectors(self) -> None:
        """Input count and characters, embedding count and dimension, token usage."""
        request = {"model": "text-embedding-3-small", "input": ["hello", "hi"]}
        response = {
            "object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": [0.1] * 8} for i in range(2)],
            "usage": {"prompt_tokens": 3, "total_tokens": 3},
        }
        decoded = DECODER.decode("/v1/embeddings", request, response, OPTIONS)
        assert decoded.features == {
            "model": ["text-embedding-3-small"],
            "input_count": [2.0],
            "input_chars": [7.0],
        }
        predictions = decoded.predictions
        direction = [predictions.pop(f"embedding_direction_{i}")[0] for i in range(4)]
        assert all(isinstance(d, float) for d in direction)
        assert predictions == {
            "embedding_count": [2.0],
            "embedding_dimension": [8.0],
            "embedding_norm": [pytest.approx(np.sqrt(8 * 0.01))],
            "prompt_tokens": [3.0],
            "total_tokens": [3.0],
        }

    def test_embeddings_in_base64(self) -> None:
        """A base64 float32 embedding has one dimension per four bytes."""
        vector = base64.b64encode(struct.pack("<6f", *range(6))).decode()
        response = {"data": [{"embedding": vector}]}
        decoded = DECODER.decode("/v1/embeddings", {"model": "e", "input": "x"}, response, OPTIONS)
        assert decoded.predictions["embedding_dimension"] == [6.0]
        assert decoded.features["input_count"] == [1.0]
