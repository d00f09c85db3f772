"""Decoder throughput: pairs per second per protocol on representative payloads.

Prints, per payload shape, decoded pairs per second and microseconds per pair on one core, and
the share of that spent in `json.loads` (the floor any pure-Python decoder has). Run:
`python bench/decoders_bench.py`.
"""

from __future__ import annotations

import json
import time

import numpy as np

from sidecar.decoders import DecodeOptions, decode_pair
from sidecar.records import Captured

PAIRS = 2_000


def captured(path: str, request: object, response: object) -> Captured:
    """A captured pair with JSON bodies."""
    return Captured(
        "id",
        "POST",
        path,
        "",
        200,
        (),
        json.dumps(request).encode(),
        json.dumps(response).encode(),
        0.0,
        0.01,
    )


def cases() -> dict[str, Captured]:
    """Seeded payloads of each protocol: 32 rows x 16 features where rows apply."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 16)).round(4)
    p = rng.dirichlet(np.ones(3), size=32).round(6)
    columns = [f"c{i}" for i in range(16)]
    return {
        "open inference v2 32x16 + probabilities": captured(
            "/v2/models/m/infer",
            {
                "inputs": [
                    {"name": "x", "shape": [32, 16], "datatype": "FP32", "data": x.ravel().tolist()}
                ]
            },
            {
                "model_name": "m",
                "outputs": [
                    {"name": "p", "shape": [32, 3], "datatype": "FP32", "data": p.ravel().tolist()}
                ],
            },
        ),
        "kserve v1 32x16 + probabilities": captured(
            "/v1/models/m:predict", {"instances": x.tolist()}, {"predictions": p.tolist()}
        ),
        "mlflow dataframe_split 32x16": captured(
            "/invocations",
            {"dataframe_split": {"columns": columns, "data": x.tolist()}},
            {"predictions": list(range(32))},
        ),
        "mlflow dataframe_records 32x16": captured(
            "/invocations",
            {"dataframe_records": [dict(zip(columns, row, strict=True)) for row in x.tolist()]},
            {"predictions": list(range(32))},
        ),
        "generic JSON, 1 row of 20 keys": captured(
            "/score", {f"k{i}": (i if i % 2 else "a") for i in range(20)}, {"score": 0.5}
        ),
        "openai chat completion": captured(
            "/v1/chat/completions",
            {"model": "m", "messages": [{"role": "user", "content": "hi " * 50}]},
            {
                "choices": [{"message": {"content": "x" * 200}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 50, "total_tokens": 55},
            },
        ),
    }


def main() -> None:
    """Time each case and print a table."""
    options = DecodeOptions()
    print(f"{'payload':42} {'pairs/s':>9} {'us/pair':>8} {'json share':>10}")
    for name, pair in cases().items():
        started = time.perf_counter()
        for _ in range(PAIRS):
            decode_pair(pair, options)
        per_pair = (time.perf_counter() - started) / PAIRS
        started = time.perf_counter()
        for _ in range(PAIRS):
            json.loads(pair.request_body)
            json.loads(pair.response_body)
        parse = (time.perf_counter() - started) / PAIRS
        print(f"{name:42} {1 / per_pair:9,.0f} {per_pair * 1e6:8.1f} {parse / per_pair:10.0%}")


if __name__ == "__main__":
    main()
