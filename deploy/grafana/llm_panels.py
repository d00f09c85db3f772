"""The LLM serving row of the dashboard: GenAI metrics of sampled OpenAI-compatible calls.

Time to first token p50/p95, time per output token, output tokens per second (throughput of
the sampled calls scaled by the sampling rate, and the per-call speed), token usage, and the
share of each finish reason. `$model` selects `gen_ai_request_model`.
"""

from __future__ import annotations

from panels import NS, RATE, Panel, row, timeseries

GM = f'{NS}, gen_ai_request_model=~"$model"'
BY = "gen_ai_request_model"


def _quantile(q: float, metric: str) -> str:
    return f"histogram_quantile({q}, sum by (le, {BY}) (rate({metric}_bucket{{{GM}}}[{RATE}])))"


def llm_panels() -> list[Panel]:
    """TTFT, time per output token, tokens per second and finish-reason shares."""
    ttft = "gen_ai_server_time_to_first_token_seconds"
    tpot = "gen_ai_server_time_per_output_token_seconds"
    tokens = "gen_ai_client_token_usage"
    speed = "sidecar_gen_ai_server_output_tokens_per_second"
    reasons = f"rate(sidecar_gen_ai_finish_reasons_total{{{GM}}}[{RATE}])"
    finishes = f"sum by ({BY}, gen_ai_response_finish_reason) ({reasons})"
    all_finishes = f"sum by ({BY}) ({reasons})"
    sampling = f"scalar(min(sidecar_capture_sampling_rate_ratio{{{NS}}}))"
    return [
        row("LLM serving"),
        timeseries(
            "Time to first token",
            (_quantile(0.5, ttft), "p50 {{gen_ai_request_model}}"),
            (_quantile(0.95, ttft), "p95 {{gen_ai_request_model}}"),
            unit="s",
            description="Arrival to the first chunk carrying content, successful streams.",
        ),
        timeseries(
            "Time per output token",
            (_quantile(0.5, tpot), "p50 {{gen_ai_request_model}}"),
            (_quantile(0.95, tpot), "p95 {{gen_ai_request_model}}"),
            unit="s",
        ),
        timeseries(
            "Output tokens per second",
            (
                f'sum by ({BY}) (rate({tokens}_sum{{{GM}, gen_ai_token_type="output"}}[{RATE}]))'
                f" / {sampling}",
                "all calls {{gen_ai_request_model}} (scaled by sampling)",
            ),
            (_quantile(0.5, speed), "per call p50 {{gen_ai_request_model}}"),
            description="Throughput of output tokens, and the median speed of one call.",
        ),
        timeseries(
            "Finish reasons (share)",
            (
                f"{finishes} / ignoring (gen_ai_response_finish_reason) group_left {all_finishes}",
                "{{gen_ai_request_model}} {{gen_ai_response_finish_reason}}",
            ),
            unit="percentunit",
            description="aborted: streams cut off by either side before their end.",
        ),
        timeseries(
            "Tokens per call (mean)",
            (
                f"sum by ({BY}, gen_ai_token_type) (rate({tokens}_sum{{{GM}}}[{RATE}]))"
                f" / sum by ({BY}, gen_ai_token_type) (rate({tokens}_count{{{GM}}}[{RATE}]))",
                "{{gen_ai_request_model}} {{gen_ai_token_type}}",
            ),
        ),
        timeseries(
            "LLM request duration",
            (
                _quantile(0.95, "gen_ai_server_request_duration_seconds"),
                "p95 {{gen_ai_request_model}}",
            ),
            unit="s",
        ),
    ]
