"""The OpenAI Responses API (`/v1/responses`): one request is one row, whole or streamed.

Features: `model`, `input_count` (input items; a string input is one), `prompt_chars` (text of
the input items and `instructions`), `tool_count`, `temperature`, `top_p`, `max_tokens`
(`max_output_tokens`), `stream`. Predictions: `completion_chars` (output text), `finish_reason`
(mapped onto the chat vocabulary: `stop`, `length` for `max_output_tokens`, `content_filter`,
`tool_calls` when a function call was output, `error` for a failed response), `prompt_tokens`,
`completion_tokens`, `total_tokens` (from `input_tokens`/`output_tokens`) and, for a stream of
typed events, `chunk_count` and `stream_completed` (a terminal `response.completed`,
`response.incomplete` or `response.failed` event arrived; this API sends no `[DONE]`).
Texts are measured, never kept.
"""

from __future__ import annotations

from sidecar.decoders.arrays import to_value
from sidecar.decoders.base import EventStream
from sidecar.records import Value

TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})
INCOMPLETE_REASONS = {"max_output_tokens": "length", "content_filter": "content_filter"}
SETTINGS = ("temperature", "top_p")
USAGE_KEYS = (
    ("input_tokens", "prompt_tokens"),
    ("output_tokens", "completion_tokens"),
    ("total_tokens", "total_tokens"),
)


def _number(value: object) -> Value:
    return to_value(value) if type(value) in (int, float) else None


def _text(content: object) -> int:
    """Characters of a content: a string, or parts carrying `text`."""
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(
            len(p["text"])
            for p in content
            if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return 0


def request_features(request: dict[str, object]) -> dict[str, Value]:
    """The feature cells of one Responses API request."""
    model = request.get("model")
    items = request.get("input")
    if isinstance(items, list):
        count = len(items)
        chars = sum(_text(i.get("content", i.get("output"))) for i in items if isinstance(i, dict))
    else:
        count, chars = (1, len(items)) if isinstance(items, str) else (0, 0)
    instructions = request.get("instructions")
    tools = request.get("tools")
    row: dict[str, Value] = {
        "model": model if isinstance(model, str) else None,
        "input_count": float(count),
        "prompt_chars": float(chars + (len(instructions) if isinstance(instructions, str) else 0)),
        "tool_count": float(len(tools)) if isinstance(tools, list) else 0.0,
    }
    for key in SETTINGS:
        row[key] = _number(request.get(key))
    row["max_tokens"] = _number(request.get("max_output_tokens"))
    row["stream"] = "true" if request.get("stream") is True else "false"
    return row


def finish_reason(response: dict[str, object]) -> str | None:
    """The chat-style finish reason of a response object, from its status and output."""
    status = response.get("status")
    if status == "completed":
        output = response.get("output")
        items = output if isinstance(output, list) else []
        called = any(isinstance(i, dict) and i.get("type") == "function_call" for i in items)
        return "tool_calls" if called else "stop"
    if status == "incomplete":
        details = response.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        return INCOMPLETE_REASONS.get(str(reason), "length")
    if status in ("failed", "cancelled"):
        return "error" if status == "failed" else "aborted"
    return None


def output_chars(response: dict[str, object]) -> int:
    """Characters of the output text of a response object."""
    output = response.get("output")
    items = output if isinstance(output, list) else []
    return sum(
        _text(i.get("content")) for i in items if isinstance(i, dict) and i.get("type") == "message"
    )


def usage_cells(response: dict[str, object]) -> dict[str, Value]:
    """`prompt_tokens`, `completion_tokens`, `total_tokens` from a response's `usage`."""
    usage = response.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    return {column: _number(usage.get(key)) for key, column in USAGE_KEYS}


def final_response(stream: EventStream) -> dict[str, object] | None:
    """The response object of the stream's terminal event, if one arrived."""
    for event in reversed(stream.events):
        if isinstance(event, dict) and event.get("type") in TERMINAL_EVENTS:
            body = event.get("response")
            return body if isinstance(body, dict) else {}
    return None


def response_predictions(response: object) -> dict[str, Value]:
    """The prediction cells of a Responses API answer, whole or streamed."""
    row: dict[str, Value] = dict.fromkeys(("completion_chars", "finish_reason"))
    row.update(dict.fromkeys(column for _, column in USAGE_KEYS))
    if isinstance(response, EventStream):
        final = final_response(response)
        deltas = [
            e.get("delta")
            for e in response.events
            if isinstance(e, dict) and e.get("type") == "response.output_text.delta"
        ]
        row["completion_chars"] = float(sum(len(d) for d in deltas if isinstance(d, str)))
        if final is not None:
            row["finish_reason"] = finish_reason(final)
            row.update(usage_cells(final))
        row["chunk_count"] = float(len(response.events))
        row["stream_completed"] = "true" if final is not None else "false"
    elif isinstance(response, dict):
        row["completion_chars"] = float(output_chars(response))
        row["finish_reason"] = finish_reason(response)
        row.update(usage_cells(response))
    return row
