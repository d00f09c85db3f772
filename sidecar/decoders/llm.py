"""One LLM call as the GenAI metrics see it: operation, models, tokens, finish reasons, timing.

`llm_call(captured)` reads an OpenAI-compatible pair (chat completions, completions, embeddings,
the Responses API; also vLLM, TGI and Ollama's OpenAI servers) into an `LLMCall`:

- tokens: the answer's `usage` when it has one (`token_source="reported"`); a stream without
  `usage` counts its content events instead (`"counted"`: one per event carrying text, a
  tool-call delta or reasoning text, which is one token per event for vLLM, TGI and Ollama and
  an undercount where a server merges tokens). Input tokens are never guessed.
- time to first token: from the request's arrival to the capture mark of the chunk that
  completed the first content event (not the role-only first chunk), for streams that
  finished (`[DONE]`, or a terminal Responses event) with a 2xx status only. Exact to the
  chunk for the first 511 chunks (`sidecar.capture.MAX_MARKS`); None for compressed streams.
- time per output token: (last content time - first content time) / (output tokens - 1).
- finish reasons, one per choice, normalised to `FINISH_REASONS` (`aborted` for a stream cut
  off by either side or without its end marker; anything unknown is `other`).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, replace

from sidecar.decoders.arrays import to_value
from sidecar.decoders.base import EventStream
from sidecar.decoders.openai import request_kind
from sidecar.decoders.payload import (
    DEFAULT_MAX_BYTES,
    decompress,
    is_event_stream,
    parse_event_stream,
    parse_json,
)
from sidecar.decoders.responses import final_response
from sidecar.decoders.responses import finish_reason as response_finish_reason
from sidecar.decoders.routes import detect_model
from sidecar.records import Captured, DecodeError

OPERATIONS = {
    "chat": "chat",
    "completions": "text_completion",
    "embeddings": "embeddings",
    "responses": "responses",
}
"""Decoder kind -> `gen_ai.operation.name` (OTel well-known values; `responses` is ours)."""

FINISH_REASONS = frozenset(
    {"stop", "length", "tool_calls", "content_filter", "aborted", "error", "other"}
)
FINISH_ALIASES = {
    "function_call": "tool_calls",
    "eos_token": "stop",  # TGI
    "stop_sequence": "stop",  # TGI
    "max_tokens": "length",
    "abort": "aborted",  # vLLM
    "cancelled": "aborted",
}


@dataclass(frozen=True, slots=True)
class LLMCall:
    """The GenAI figures of one captured LLM request."""

    operation: str
    request_model: str
    response_model: str
    streamed: bool
    duration: float
    error_type: str | None = None
    """None on success; the HTTP status code, or `aborted` for a cut-off stream."""
    finish_reasons: tuple[str, ...] = ()
    input_tokens: float | None = None
    output_tokens: float | None = None
    token_source: str = "reported"
    time_to_first_token: float | None = None
    time_per_output_token: float | None = None


def finish_label(reason: object) -> str | None:
    """A raw finish reason as one of `FINISH_REASONS` (None for no reason)."""
    if not isinstance(reason, str) or not reason:
        return None
    reason = FINISH_ALIASES.get(reason, reason)
    return reason if reason in FINISH_REASONS else "other"


def is_content(event: object) -> int:
    """How many content deltas an event carries (text, tool-call or reasoning deltas)."""
    if not isinstance(event, dict):
        return 0
    kind = event.get("type")
    if isinstance(kind, str):
        return int(kind.startswith("response.") and kind.endswith(".delta"))
    choices = event.get("choices")
    count = 0
    for choice in choices if isinstance(choices, list) else ():
        if not isinstance(choice, dict):
            continue
        delta = choice.get("delta")
        if isinstance(delta, dict):
            count += bool(
                delta.get("content")
                or delta.get("tool_calls")
                or delta.get("reasoning_content")
                or delta.get("reasoning")
            )
        elif choice.get("text"):
            count += 1
    return count


def _usage(body: object) -> tuple[float | None, float | None]:
    """(input, output) tokens of a body's `usage`, in either API's key names."""
    usage = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(usage, dict):
        return None, None
    found: list[float | None] = []
    for keys in (("prompt_tokens", "input_tokens"), ("completion_tokens", "output_tokens")):
        value = next((usage[k] for k in keys if k in usage), None)
        count = to_value(value) if type(value) in (int, float) else None
        usable = isinstance(count, float) and math.isfinite(count) and count >= 0
        found.append(count if usable and isinstance(count, float) else None)
    return found[0], found[1]


def _choice_reasons(bodies: list[object]) -> tuple[str, ...]:
    """The last finish reason of each choice index across whole or streamed bodies."""
    reasons: dict[int, str] = {}
    for body in bodies:
        choices = body.get("choices") if isinstance(body, dict) else None
        for position, choice in enumerate(choices if isinstance(choices, list) else ()):
            if isinstance(choice, dict):
                label = finish_label(choice.get("finish_reason"))
                index = choice.get("index")
                if label is not None:
                    reasons[index if isinstance(index, int) else position] = label
    return tuple(reasons[i] for i in sorted(reasons))


def _model(body: object) -> str | None:
    if isinstance(body, dict):
        inner = body.get("response")
        model = inner.get("model") if isinstance(inner, dict) else body.get("model")
        if isinstance(model, str) and model:
            return model
    return None


def _at(marks: tuple[tuple[int, float], ...], offset: int) -> float | None:
    """Seconds since arrival at which the response had `offset` bytes."""
    index = bisect.bisect_left(marks, (offset, -1.0))
    return marks[index][1] if index < len(marks) else None


def llm_call(captured: Captured, max_bytes: int = DEFAULT_MAX_BYTES) -> LLMCall | None:
    """The LLM call of a captured OpenAI-compatible pair, or None when it is not one."""
    try:
        request = parse_json(
            decompress(captured.request_body, captured.request_encoding, max_bytes)
        )
    except DecodeError:
        return None
    if not isinstance(request, dict):
        return None
    kind = request_kind(captured.path, request)
    model = detect_model("", request)
    base = LLMCall(OPERATIONS[kind], model, model, False, captured.duration)
    try:
        body = decompress(captured.response_body, captured.response_encoding, max_bytes)
    except DecodeError:
        body = b""
    if is_event_stream(body, captured.response_content_type):
        return _stream_call(captured, body, kind, base)
    if captured.status >= 400 or not captured.complete:
        return replace(base, error_type=str(captured.status))
    try:
        answer = parse_json(body)
    except DecodeError:
        answer = None
    tokens = _usage(answer)
    if kind == "responses" and isinstance(answer, dict):
        reason = finish_label(response_finish_reason(answer))
        reasons: tuple[str, ...] = () if reason is None else (reason,)
    else:
        reasons = _choice_reasons([answer])
    if kind == "embeddings":
        tokens = (tokens[0], None)
    return replace(
        base,
        response_model=_model(answer) or model,
        finish_reasons=reasons,
        input_tokens=tokens[0],
        output_tokens=tokens[1],
    )


def stream_finished(stream: EventStream, complete: bool) -> bool:
    """Whether a stream reached its end: `[DONE]`, a terminal Responses event, or (for a
    server that omits `[DONE]`) a whole exchange in which every choice finished."""
    if stream.done or final_response(stream) is not None:
        return True
    return complete and bool(_choice_reasons(list(stream.events)))


def _content_times(
    stream: EventStream, captured: Captured
) -> tuple[float | None, float | None, float]:
    """Arrival of the first and last content events (None when unknown), and their count."""
    counts = [is_content(event) for event in stream.events]
    content = [end for end, n in zip(stream.ends, counts, strict=False) if n]
    count = float(sum(counts))
    if not content or len(stream.ends) != len(counts):
        return None, None, count
    if captured.response_encoding or not captured.marks:
        return None, None, count
    return _at(captured.marks, content[0]), _at(captured.marks, content[-1]), count


def _stream_call(captured: Captured, body: bytes, kind: str, base: LLMCall) -> LLMCall:
    """The call of a streamed answer: tokens, reasons and timing from its events."""
    try:
        stream = parse_event_stream(body)
    except DecodeError:
        stream = EventStream((), False)
    bodies = list(stream.events)
    final = final_response(stream)
    if kind == "responses":
        reason = None if final is None else finish_label(response_finish_reason(final))
        reasons: tuple[str, ...] = () if reason is None else (reason,)
        tokens = _usage(final)
    else:
        reasons = _choice_reasons(bodies)
        tokens = next((u for u in map(_usage, reversed(bodies)) if u != (None, None)), (None, None))
    base = replace(
        base,
        streamed=True,
        response_model=next(filter(None, map(_model, bodies)), base.request_model),
    )
    finished = stream_finished(stream, captured.complete)
    if not (captured.complete and finished and 200 <= captured.status < 300):
        failed = captured.status >= 400
        return replace(
            base,
            error_type=str(captured.status) if failed else "aborted",
            finish_reasons=() if failed else ("aborted",) * max(1, len(reasons)),
        )
    first, last, counted = _content_times(stream, captured)
    source, output = "reported", tokens[1]
    if output is None and counted:
        source, output = "counted", counted
    per_token = None
    if first is not None and last is not None and output is not None and output > 1:
        per_token = (last - first) / (output - 1)
    return replace(
        base,
        finish_reasons=reasons,
        input_tokens=tokens[0],
        output_tokens=output,
        token_source=source,
        time_to_first_token=first,
        time_per_output_token=per_token,
    )


def first_token_seconds(captured: Captured, response: object) -> float | None:
    """Time to first token of a successful stream (`response` parsed), else None."""
    if not captured.marks or not isinstance(response, EventStream):
        return None
    if not 200 <= captured.status < 300:
        return None
    if not (captured.complete and stream_finished(response, captured.complete)):
        return None
    return _content_times(response, captured)[0]
