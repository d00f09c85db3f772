"""Property tests: `llm_call` reads any pair without raising, and its figures are consistent."""

from __future__ import annotations

import json
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidecar.decoders import DecodeOptions, decode_pair
from sidecar.decoders.llm import FINISH_REASONS, llm_call
from sidecar.records import Captured, DecodeError

CapturedFactory = Callable[..., Captured]
SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
PATHS = st.sampled_from(
    ["/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses"]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**320)
    | st.floats()
    | st.text(max_size=6)
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)
REASONS = st.sampled_from(["stop", "length", "eos_token", "abort", "tool_calls", "zzz"]) | JSON
DELTA = st.fixed_dictionaries(
    {},
    optional={
        "content": st.text(max_size=4) | JSON,
        "tool_calls": JSON,
        "reasoning_content": st.text(max_size=3),
    },
)
CHOICE = st.fixed_dictionaries(
    {"delta": DELTA | JSON}, optional={"index": JSON, "finish_reason": REASONS, "text": JSON}
)
USAGE = st.dictionaries(
    st.sampled_from(["prompt_tokens", "completion_tokens", "input_tokens", "output_tokens"]),
    SCALARS,
)
EVENT = (
    st.fixed_dictionaries(
        {"choices": st.lists(CHOICE, max_size=3) | JSON}, optional={"usage": USAGE | JSON}
    )
    | st.fixed_dictionaries(
        {"type": st.sampled_from(["response.output_text.delta", "response.completed", "x"])},
        optional={"response": JSON, "delta": JSON},
    )
    | JSON
)


def _body(events: list[object], done: bool, cut: int) -> bytes:
    text = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + ("data: [DONE]\n\n" * done)
    raw = text.encode()
    return raw[: len(raw) - cut] if cut else raw


class TestLLMCallProperties:
    @SETTINGS
    @given(
        path=PATHS,
        request=st.fixed_dictionaries(
            {"model": st.text(max_size=4) | JSON},
            optional={"messages": JSON, "input": JSON, "prompt": JSON, "stream": JSON},
        ),
        events=st.lists(EVENT, max_size=6),
        done=st.booleans(),
        cut=st.integers(min_value=0, max_value=30),
        status=st.sampled_from([200, 200, 206, 400, 500]),
        complete=st.booleans(),
        times=st.lists(st.floats(min_value=0, max_value=60), max_size=8),
    )
    def test_any_stream_gives_a_consistent_call(
        self,
        captured: CapturedFactory,
        path: str,
        request: dict[str, object],
        events: list[object],
        done: bool,
        cut: int,
        status: int,
        complete: bool,
        times: list[float],
    ) -> None:
        """Never raises; TTFT and tokens only on success; finish reasons from the closed set;
        TTFT is one of the marks' times; decode_pair agrees on TTFT or raises DecodeError."""
        body = _body(events, done, cut)
        step = max(1, len(body) // max(1, len(times)))
        marks = tuple((min(len(body), step * (i + 1)), t) for i, t in enumerate(sorted(times)))
        pair = captured(
            path,
            request,
            body,
            status=status,
            complete=complete,
            marks=marks,
            response_content_type="text/event-stream",
        )
        call = llm_call(pair)
        assert call is not None
        assert set(call.finish_reasons) <= FINISH_REASONS
        if call.error_type is not None:
            assert call.time_to_first_token is None and call.output_tokens is None
        if call.time_to_first_token is not None:
            assert call.time_to_first_token in {t for _, t in marks}
            assert call.streamed and 200 <= status < 300 and complete
        try:
            decoded = decode_pair(pair, DecodeOptions())
        except DecodeError:
            return
        ttft = decoded.predictions.get("time_to_first_token_seconds")
        assert ttft == (None if call.time_to_first_token is None else [call.time_to_first_token])

    @SETTINGS
    @given(path=PATHS, request=st.binary(max_size=80), response=JSON | st.binary(max_size=80))
    def test_arbitrary_bodies_never_raise(
        self, captured: CapturedFactory, path: str, request: bytes, response: object
    ) -> None:
        """Arbitrary request bytes and responses give an LLMCall or None."""
        call = llm_call(captured(path, request, response))
        assert call is None or set(call.finish_reasons) <= FINISH_REASONS
