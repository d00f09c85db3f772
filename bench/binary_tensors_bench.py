"""Open Inference decoding: the same tensors as JSON and with the binary tensor extension.

Prints, per size (rows x FP32 features, with a [rows, 3] probability output), microseconds per
decoded pair for JSON bodies and for binary bodies (binary request and binary outputs), body
bytes, and the binary/JSON time ratio measured in the same run. Run:
`python bench/binary_tensors_bench.py`.
"""

from __future__ import annotations

import json
import time

import numpy as np

from sidecar.decoders import DecodeOptions, decode_pair
from sidecar.records import Captured

SIZES = ((1, 16), (32, 16), (512, 16), (256, 100))
SECONDS = 0.5
HEADER = "inference-header-content-length"


def _json_tensor(name: str, array: np.ndarray) -> dict[str, object]:
    return {
        "name": name,
        "datatype": "FP32",
        "shape": list(array.shape),
        "data": array.ravel().tolist(),
    }


def _binary(key: str, tensors: dict[str, np.ndarray], **extra: object) -> tuple[bytes, str]:
    raws = {name: array.astype("<f4").tobytes() for name, array in tensors.items()}
    specs = [
        {
            "name": name,
            "datatype": "FP32",
            "shape": list(array.shape),
            "parameters": {"binary_data_size": len(raws[name])},
        }
        for name, array in tensors.items()
    ]
    head = json.dumps({key: specs, **extra}).encode()
    return head + b"".join(raws.values()), str(len(head))


def pairs(rows: int, width: int) -> tuple[Captured, Captured]:
    """The same request and response as JSON and as binary tensors."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, width)).astype(np.float32)
    p = rng.dirichlet(np.ones(3), size=rows).astype(np.float32)
    as_json = Captured(
        "id", "POST", "/v2/models/m/infer", "", 200, (),
        json.dumps({"inputs": [_json_tensor("x", x)]}).encode(),
        json.dumps({"model_name": "m", "outputs": [_json_tensor("p", p)]}).encode(),
        0.0, 0.01,
    )  # fmt: skip
    request, request_length = _binary("inputs", {"x": x})
    response, response_length = _binary("outputs", {"p": p}, model_name="m")
    as_binary = Captured(
        "id", "POST", "/v2/models/m/infer", "", 200, ((HEADER, request_length),),
        request, response, 0.0, 0.01, response_headers=((HEADER, response_length),),
    )  # fmt: skip
    return as_json, as_binary


def per_pair(pair: Captured, options: DecodeOptions) -> float:
    """Seconds per decode, over about `SECONDS` of repeated decoding."""
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < SECONDS:
        for _ in range(20):
            decode_pair(pair, options)
        count += 20
    return (time.perf_counter() - started) / count


def main() -> None:
    """Time each size both ways and print a table."""
    options = DecodeOptions()
    heads = ("json us", "binary us", "json B", "binary B", "binary/json")
    print(f"{'rows x features':16}", *(f"{h:>11}" for h in heads))
    for rows, width in SIZES:
        as_json, as_binary = pairs(rows, width)
        if decode_pair(as_json, options) != decode_pair(as_binary, options):
            raise SystemExit(f"{rows} x {width}: binary and JSON decode differently")
        j, b = per_pair(as_json, options), per_pair(as_binary, options)
        size_j = len(as_json.request_body) + len(as_json.response_body)
        size_b = len(as_binary.request_body) + len(as_binary.response_body)
        figures = (f"{j * 1e6:.1f}", f"{b * 1e6:.1f}", f"{size_j:,}", f"{size_b:,}", f"{b / j:.2f}")
        print(f"{f'{rows} x {width}':16}", *(f"{f:>11}" for f in figures))


if __name__ == "__main__":
    main()
