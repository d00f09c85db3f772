"""OpenAI-compatible chat completions, completions, embeddings and responses (vLLM, TGI, Ollama).

One request is one row. Features describe the prompt (`message_count`, `prompt_chars`,
`input_count`, `input_chars`) and sampling settings (`temperature`, `top_p`, `max_tokens`,
`stream`, categorical `model`); predictions describe the answer (`completion_chars`,
`finish_reason`, `prompt_tokens`, `completion_tokens`, `total_tokens`, `embedding_dimension`).
Streamed responses arrive as an `EventStream`: `chunk_count` events are summed into
`completion_chars`, the last `finish_reason` and any `usage` chunk are kept, and
`stream_completed` says whether `[DONE]` arrived. Texts are measured, never kept, so a row is a
fixed dozen cells whatever the payload. Embeddings answers are read by
`sidecar.decoders.embeddings`, the Responses API by `sidecar.decoders.responses`. vLLM's and
Ollama's `stream_options: {include_usage: true}` chunk (empty `choices`, a `usage`) and vLLM's
`continuous_usage_stats` (cumulative `usage` on every chunk) both leave the final counts.
"""

from __future__ import annotations

from sidecar.decoders.arrays import to_value
from sidecar.decoders.base import DecodeOptions, EventStream
from sidecar.decoders.columns import ColumnSet
from sidecar.decoders.embeddings import embedding_predictions
from sidecar.decoders.outputs import build
from sidecar.decoders.responses import request_features as responses_request_features
from sidecar.decoders.responses import response_predictions
from sidecar.decoders.routes import (
    ROUTE_CHAT,
    ROUTE_EMBEDDINGS,
    ROUTE_RESPONSES,
    detect_model,
    route_template,
)
from sidecar.records import Decoded, DecodeError, Value

SETTINGS = ("temperature", "top_p", "n", "presence_penalty", "frequency_penalty")
USAGE = ("prompt_tokens", "completion_tokens", "total_tokens")
RESPONSES_KEYS = frozenset({"instructions", "max_output_tokens", "previous_response_id"})
"""Body keys only the Responses API uses (its `input` is otherwise shaped like embeddings')."""


def _number(value: object) -> Value:
    return to_value(value) if type(value) in (int, float) else None


def text_chars(content: object) -> float | None:
    """Characters of a message content: a string, or a list of parts with `text`."""
    if isinstance(content, str):
        return float(len(content))
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        return float(sum(len(p) for p in parts if isinstance(p, str)))
    return None


def request_features(kind: str, request: dict[str, object]) -> dict[str, Value]:
    """The feature cells of one request."""
    row: dict[str, Value] = {"model": detect_model("", request)}
    if kind == "chat":
        messages = request.get("messages")
        messages = messages if isinstance(messages, list) else []
        row["message_count"] = float(len(messages))
        chars = [text_chars(m.get("content")) for m in messages if isinstance(m, dict)]
        row["prompt_chars"] = float(sum(c for c in chars if c is not None))
        tools = request.get("tools")
        row["tool_count"] = float(len(tools)) if isinstance(tools, list) else 0.0
    elif kind == "embeddings":
        inputs = request.get("input")
        items = inputs if isinstance(inputs, list) and not _is_tokens(inputs) else [inputs]
        row["input_count"] = float(len(items))
        row["input_chars"] = float(sum(len(i) for i in items if isinstance(i, str)))
        return row
    else:
        prompt = request.get("prompt")
        prompts = prompt if isinstance(prompt, list) and not _is_tokens(prompt) else [prompt]
        row["prompt_chars"] = float(sum(len(p) for p in prompts if isinstance(p, str)))
    for key in SETTINGS:
        row[key] = _number(request.get(key))
    row["max_tokens"] = _number(request.get("max_tokens", request.get("max_completion_tokens")))
    row["stream"] = "true" if request.get("stream") is True else "false"
    return row


def _is_tokens(items: list[object]) -> bool:
    return bool(items) and type(items[0]) is int


def choice_text(choice: dict[str, object]) -> str | None:
    """The text of a choice or a streamed chunk's choice (chat `message`/`delta`, or `text`)."""
    for key in ("message", "delta"):
        part = choice.get(key)
        if isinstance(part, dict):
            content = part.get("content")
            return content if isinstance(content, str) else None
    text = choice.get("text")
    return text if isinstance(text, str) else None


def _first_choice(body: dict[str, object]) -> dict[str, object] | None:
    choices = body.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0]
    return None


def _usage(row: dict[str, Value], body: dict[str, object]) -> None:
    usage = body.get("usage")
    if isinstance(usage, dict):
        for key in USAGE:
            if key in usage:
                row[key] = _number(usage[key])


def completion_predictions(response: object) -> dict[str, Value]:
    """The prediction cells of a completion response, whole or streamed."""
    row: dict[str, Value] = dict.fromkeys(("completion_chars", "finish_reason", *USAGE))
    bodies = response.events if isinstance(response, EventStream) else [response]
    chars = 0
    for body in bodies:
        if not isinstance(body, dict):
            continue
        choice = _first_choice(body)
        if choice is not None:
            chars += len(choice_text(choice) or "")
            reason = choice.get("finish_reason")
            if isinstance(reason, str):
                row["finish_reason"] = reason
        _usage(row, body)
    if isinstance(response, EventStream):
        row["chunk_count"] = float(len(response.events))
        row["stream_completed"] = "true" if response.done else "false"
    if isinstance(response, dict | EventStream):
        row["completion_chars"] = float(chars)
    return row


def request_kind(path: str, request: dict[str, object]) -> str:
    """ "chat", "completions", "embeddings" or "responses", by route and else by body keys."""
    route = route_template(path)
    if route == ROUTE_CHAT or "messages" in request:
        return "chat"
    if route == ROUTE_RESPONSES or (route != ROUTE_EMBEDDINGS and RESPONSES_KEYS & set(request)):
        return "responses"
    if route == ROUTE_EMBEDDINGS or ("input" in request and "prompt" not in request):
        return "embeddings"
    return "completions"


class OpenAIDecoder:
    """OpenAI-compatible chat completions, completions, embeddings and responses."""

    name = "openai"

    def matches(self, path: str, request: object) -> bool:
        """Whether the body has a `model` and `messages`, `prompt` or `input`."""
        return (
            isinstance(request, dict)
            and isinstance(request.get("model"), str)
            and any(key in request for key in ("messages", "prompt", "input"))
        )

    def decode(
        self, path: str, request: object, response: object | None, options: DecodeOptions
    ) -> Decoded:
        """Decode one request into one row of prompt features and answer predictions."""
        if not isinstance(request, dict):
            raise DecodeError("invalid_payload", "openai request is not a JSON object")
        kind = request_kind(path, request)
        features = ColumnSet(1, options)
        if kind == "responses":
            asked = responses_request_features(request)
        else:
            asked = request_features(kind, request)
        for key, cell in asked.items():
            features.add(key, [cell])
        predictions = ColumnSet(1, options)
        if kind == "embeddings":
            cells = embedding_predictions(response)
        elif kind == "responses":
            cells = response_predictions(response)
        else:
            cells = completion_predictions(response)
        for key, cell in cells.items():
            predictions.add(key, [cell])
        return build(self.name, detect_model(path, request), features, predictions)
