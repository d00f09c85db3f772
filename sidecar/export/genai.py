"""GenAI metrics of sampled LLM requests, on the OpenTelemetry GenAI semantic conventions.

Fed by the analysis worker with every captured pair before drift analysis (`sink`), so the
figures describe **sampled** requests: divide counts by `sidecar_capture_sampling_rate_ratio`
to estimate all traffic (durations, TTFT and token distributions need no scaling). Streams cut
off by either side reach this module (and only this module) with `complete=False` and count as
`aborted`.

Instruments (histograms use the semantic conventions' advised bucket boundaries):

- `gen_ai.server.request.duration` (s): every call, with `error.type` on failures.
- `gen_ai.server.time_to_first_token` (s): successful streams, to the first content chunk.
- `gen_ai.server.time_per_output_token` (s): successful streams with two or more output tokens.
- `gen_ai.client.token.usage` ({token}): by `gen_ai.token.type` (input, output) and
  `sidecar.token.source` (reported by the server, or counted from content chunks).
- `sidecar.gen_ai.server.output_tokens` ({token}/s): output tokens over the request duration.
- `sidecar.gen_ai.finish_reasons` ({choice}): one per choice, `gen_ai.response.finish_reason`.

Cardinality: 4 operations x at most `DEFAULT_MAX_MODELS` (16) request and response model names
(further names are `other`) x 7 finish reasons, 2 token types and 2 sources; a few hundred
series per model.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from opentelemetry.sdk.metrics import MeterProvider

from sidecar import __version__
from sidecar.decoders.llm import LLMCall, llm_call
from sidecar.decoders.routes import OPENAI_ROUTES, route_template
from sidecar.records import Captured

log = logging.getLogger("sidecar.genai")

DEFAULT_MAX_MODELS = 16
OTHER_MODEL = "other"
DURATION_BUCKETS = tuple(0.01 * 2**k for k in range(14))
"""10 ms to 81.92 s, doubling (exact: scaling by a power of two keeps the nearest double)."""
TTFT_BUCKETS: tuple[float, ...] = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5)
TTFT_BUCKETS += (0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
TPOT_BUCKETS: tuple[float, ...] = (
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.3,
    0.4,
    0.5,
    0.75,
    1.0,
    2.5,
)
TOKEN_BUCKETS = tuple(float(4**k) for k in range(14))
"""1 to 67,108,864 tokens by powers of four, as the semantic conventions advise."""
SPEED_BUCKETS = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0)

Sink = Callable[[Sequence[Captured], float], None]


class GenAIMetrics:
    """Records the GenAI instruments from captured LLM pairs (analysis thread)."""

    def __init__(
        self,
        provider: MeterProvider,
        protocol: str | None = None,
        max_models: int = DEFAULT_MAX_MODELS,
    ) -> None:
        meter = provider.get_meter("sidecar.genai", __version__)
        self.protocol = protocol
        self.max_models = max_models
        self.models: set[str] = set()
        self.failures = 0
        self.duration = meter.create_histogram(
            "gen_ai.server.request.duration",
            unit="s",
            description="GenAI request duration, arrival to last response byte.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.ttft = meter.create_histogram(
            "gen_ai.server.time_to_first_token",
            unit="s",
            description="Time to the first content chunk of successful streams.",
            explicit_bucket_boundaries_advisory=TTFT_BUCKETS,
        )
        self.tpot = meter.create_histogram(
            "gen_ai.server.time_per_output_token",
            unit="s",
            description="Time per output token after the first, successful streams.",
            explicit_bucket_boundaries_advisory=TPOT_BUCKETS,
        )
        self.tokens = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Input and output tokens per request.",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )
        self.speed = meter.create_histogram(
            "sidecar.gen_ai.server.output_tokens",
            unit="{token}/s",
            description="Output tokens per second of request duration.",
            explicit_bucket_boundaries_advisory=SPEED_BUCKETS,
        )
        self.finishes = meter.create_counter(
            "sidecar.gen_ai.finish_reasons",
            unit="{choice}",
            description="Finished choices by finish reason (aborted: stream cut off).",
        )

    def wanted(self, pair: Captured) -> bool:
        """Whether a pair is an OpenAI-compatible call (by route, or by configured protocol)."""
        if self.protocol not in (None, "openai"):
            return False
        return self.protocol == "openai" or route_template(pair.path) in OPENAI_ROUTES

    def _model(self, name: str) -> str:
        if name in self.models:
            return name
        if len(self.models) >= self.max_models:
            return OTHER_MODEL
        self.models.add(name)
        return name

    def record(self, call: LLMCall) -> None:
        """Record one call on every instrument it has figures for."""
        base = {
            "gen_ai.operation.name": call.operation,
            "gen_ai.request.model": self._model(call.request_model),
            "gen_ai.response.model": self._model(call.response_model),
        }
        failed = {} if call.error_type is None else {"error.type": call.error_type}
        self.duration.record(call.duration, {**base, **failed})
        for reason in call.finish_reasons:
            self.finishes.add(1, {**base, "gen_ai.response.finish_reason": reason})
        if call.error_type is not None:
            return
        if call.time_to_first_token is not None:
            self.ttft.record(call.time_to_first_token, base)
        if call.time_per_output_token is not None:
            self.tpot.record(call.time_per_output_token, base)
        for kind, count, source in (
            ("input", call.input_tokens, "reported"),
            ("output", call.output_tokens, call.token_source),
        ):
            if count is not None:
                attributes = {**base, "gen_ai.token.type": kind, "sidecar.token.source": source}
                self.tokens.record(count, attributes)
        if call.output_tokens and call.duration > 0:
            speed = {**base, "sidecar.token.source": call.token_source}
            self.speed.record(call.output_tokens / call.duration, speed)

    def observe(self, batch: Sequence[Captured]) -> None:
        """Record the LLM calls of a batch; never raises."""
        for pair in batch:
            if not self.wanted(pair):
                continue
            try:
                call = llm_call(pair)
                if call is not None:
                    self.record(call)
            except Exception:  # monitoring never fails, nor stops the drift analysis
                self.failures += 1
                log.exception("GenAI metrics of %s failed", pair.path[:80])

    def sink(self, inner: Sink) -> Sink:
        """A worker sink that records GenAI metrics, then hands complete pairs to `inner`."""

        def analyse(batch: Sequence[Captured], now: float) -> None:
            self.observe(batch)
            inner([pair for pair in batch if pair.complete], now)

        return analyse


def register_genai_metrics(provider: MeterProvider, protocol: str | None = None) -> GenAIMetrics:
    """Create the GenAI instruments on `provider` (`protocol`: the configured one, or None)."""
    return GenAIMetrics(provider, protocol)
