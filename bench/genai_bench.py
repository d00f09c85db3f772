"""GenAI metrics cost: what the analysis worker pays per LLM pair, beside the drift analysis.

For a plain chat answer, a 50- and a 500-chunk stream and a 16-vector embeddings answer, prints
microseconds per pair on one core for (a) the GenAI metrics (`llm_call` + recording on the OTel
SDK instruments) and (b) the monitor's own analysis of the same pairs (decode + windows), and
their ratio. Both run on the analysis thread, never on the proxied path. Run:
`python bench/genai_bench.py`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable

import numpy as np
from opentelemetry.sdk.metrics import MeterProvider

from sidecar.export.genai import GenAIMetrics
from sidecar.monitor import Monitor
from sidecar.records import Captured

PAIRS = 400
BATCH = 50


def _sse(events: list[object]) -> tuple[bytes, tuple[tuple[int, float], ...]]:
    body, marks = b"", []
    for n, event in enumerate(events):
        body += f"data: {json.dumps(event)}\n\n".encode()
        marks.append((len(body), 0.05 + 0.02 * n))
    body += b"data: [DONE]\n\n"
    marks.append((len(body), marks[-1][1]))
    return body, tuple(marks)


def _pair(path: str, request: object, body: bytes, **fields: object) -> Captured:
    return Captured(
        "id", "POST", path, "", 200, (), json.dumps(request).encode(), body, 0.0, 1.0, **fields
    )  # type: ignore[arg-type]


def _stream(chunks: int) -> Captured:
    chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    events: list[object] = [{"model": "m", "choices": [{"index": 0, "delta": {"role": "a"}}]}]
    events += [
        {"model": "m", "choices": [{"index": 0, "delta": {"content": "tok "}}]}
        for _ in range(chunks)
    ]
    events.append({"model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    events.append({"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": chunks}})
    body, marks = _sse(events)
    return _pair(
        "/v1/chat/completions", chat, body, response_content_type="text/event-stream", marks=marks
    )


def cases() -> dict[str, Captured]:
    """Seeded LLM pairs of each shape."""
    chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    answer = {
        "model": "m",
        "choices": [{"index": 0, "message": {"content": "x" * 400}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 100},
    }
    vectors = np.random.default_rng(0).normal(size=(16, 768)).round(6)
    embeddings = {"data": [{"embedding": v.tolist()} for v in vectors], "usage": {}}
    return {
        "chat, plain": _pair("/v1/chat/completions", chat, json.dumps(answer).encode()),
        "chat, 50-chunk stream": _stream(50),
        "chat, 500-chunk stream": _stream(500),
        "embeddings, 16 x 768": _pair(
            "/v1/embeddings", {"model": "e", "input": ["a"] * 16}, json.dumps(embeddings).encode()
        ),
    }


def per_pair(run: Callable[[list[Captured]], None], pair: Captured) -> float:
    """Microseconds per pair of `run` over batches of `BATCH` copies, best of three rounds."""
    batch = [pair] * BATCH
    best = float("inf")
    for _ in range(3):
        started = time.thread_time()
        for _ in range(PAIRS // BATCH):
            run(batch)
        best = min(best, (time.thread_time() - started) / PAIRS * 1e6)
    return best


def main() -> None:
    """Print the table."""
    print(f"load average {os.getloadavg()[0]:.2f}; {PAIRS} pairs per round, best of 3")
    print(f"{'payload':26} {'GenAI us/pair':>14} {'monitor us/pair':>16} {'ratio':>6}")
    for name, pair in cases().items():
        genai = GenAIMetrics(MeterProvider())
        monitor = Monitor()
        a = per_pair(genai.observe, pair)
        b = per_pair(lambda batch, m=monitor: m.ingest(batch, 0.0), pair)  # type: ignore[misc]
        print(f"{name:26} {a:14.1f} {b:16.1f} {a / b:6.2f}")


if __name__ == "__main__":
    main()
