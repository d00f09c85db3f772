"""Calls a v2 server with Triton's own HTTP client, as JSON and as binary tensors.

Usage: python triton_client.py HOST:PORT ROWS. Run from the `.kserve/` virtualenv (which has
`tritonclient[http]`). Sends the same ROWS rows twice, once with every tensor as JSON and once
with every tensor (and both requested outputs) as binary data, with request ids `json` and
`binary`, asking for `label` before `proba` so the server answers in that order. Prints one JSON
object: the inputs sent and, per mode, the outputs received.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import tritonclient.http as triton

MODEL = "clf"


def inputs(rows: int, binary: bool) -> tuple[list[triton.InferInput], dict[str, list[object]]]:
    """The request tensors and the values they hold."""
    rng = np.random.default_rng(7)
    values: dict[str, np.ndarray] = {
        "x": rng.normal(size=(rows, 3)).astype(np.float32),
        "count": rng.integers(-5, 1_000, size=rows).astype(np.int64),
        "flag": rng.random(rows) > 0.5,
        "tag": np.array([f"t{i % 3}".encode() for i in range(rows)], dtype=np.object_),
    }
    datatypes = {"x": "FP32", "count": "INT64", "flag": "BOOL", "tag": "BYTES"}
    if binary:  # FP16 has no JSON form in KServe: only the binary request carries it
        values["half"] = (np.arange(rows) / 8).astype(np.float16)
        datatypes["half"] = "FP16"
    tensors = []
    for name, array in values.items():
        tensor = triton.InferInput(name, list(array.shape), datatypes[name])
        tensor.set_data_from_numpy(array, binary_data=binary)
        tensors.append(tensor)
    sent = {
        name: [_text(v) if isinstance(v, bytes) else v for v in array.tolist()]
        for name, array in values.items()
    }
    return tensors, sent


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def main() -> None:
    url, rows = sys.argv[1], int(sys.argv[2])
    client = triton.InferenceServerClient(url=url)
    report: dict[str, object] = {}
    for mode in ("json", "binary"):
        binary = mode == "binary"
        tensors, sent = inputs(rows, binary)
        outputs = [
            triton.InferRequestedOutput("label", binary_data=binary),
            triton.InferRequestedOutput("proba", binary_data=binary),
        ]
        headers = {"x-request-id": mode}
        if not binary:  # KServe reads a body without this content type as binary
            headers["content-type"] = "application/json"
        result = client.infer(MODEL, tensors, outputs=outputs, request_id=mode, headers=headers)
        report[mode] = {
            "sent": sent,
            "proba": result.as_numpy("proba").tolist(),
            "label": [_text(v) for v in result.as_numpy("label").tolist()],
            "order": [o["name"] for o in result.get_response()["outputs"]],
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
