"""OpenAI-compatible `/v1/embeddings` answers: how many vectors, how wide, how long.

Predictions per request: `embedding_count` (vectors returned), `embedding_dimension` (width of
the first vector), `embedding_norm` (mean L2 norm of the vectors, one numpy pass over at most
`MAX_NORM_VALUES` (4 million) floats, so a 1 MiB body costs well under a millisecond) and the
reported `prompt_tokens`/`total_tokens`. Vectors come as JSON floats or as base64 little-endian
float32 (`encoding_format: base64`). A model that starts returning unnormalised vectors, or
vectors of another width, shows up as drift of these columns against the reference; the drift
of the vectors' mean direction is not computed (the reference profile keeps per-column sketches,
not vectors).
"""

from __future__ import annotations

import base64
import binascii

import numpy as np

from sidecar.records import Value

MAX_NORM_VALUES = 1 << 22
USAGE = ("prompt_tokens", "total_tokens")


def embedding_vector(embedding: object) -> np.ndarray | None:
    """One embedding as float64 values, from a list of numbers or base64 float32."""
    if isinstance(embedding, list):
        if not all(type(v) in (int, float) for v in embedding):
            return None
        return np.asarray(embedding, dtype=np.float64)
    if isinstance(embedding, str):
        try:
            raw = base64.b64decode(embedding, validate=True)
        except (binascii.Error, ValueError):
            return None
        usable = len(raw) - len(raw) % 4
        return np.frombuffer(raw[:usable], dtype="<f4").astype(np.float64)
    return None


def embedding_dimension(embedding: object) -> float | None:
    """Length of an embedding given as floats or as base64 little-endian float32."""
    if isinstance(embedding, list):
        return float(len(embedding))
    if isinstance(embedding, str):
        try:
            return float(len(base64.b64decode(embedding, validate=True)) // 4)
        except (binascii.Error, ValueError):
            return None
    return None


def mean_norm(items: list[object]) -> float | None:
    """Mean L2 norm of the `embedding` of each item (None when none is readable)."""
    vectors = []
    total = 0
    for item in items:
        vector = embedding_vector(item.get("embedding")) if isinstance(item, dict) else None
        if vector is None:
            continue
        total += vector.size
        if total > MAX_NORM_VALUES:
            break
        vectors.append(vector)
    if not vectors:
        return None
    if len({v.size for v in vectors}) == 1:
        return float(np.linalg.norm(np.stack(vectors), axis=1).mean())
    return float(np.mean([np.linalg.norm(v) for v in vectors]))


def embedding_predictions(response: object) -> dict[str, Value]:
    """The prediction cells of an embeddings response."""
    row: dict[str, Value] = dict.fromkeys(
        ("embedding_count", "embedding_dimension", "embedding_norm", *USAGE)
    )
    if not isinstance(response, dict):
        return row
    data = response.get("data")
    if isinstance(data, list):
        row["embedding_count"] = float(len(data))
        if data and isinstance(data[0], dict):
            row["embedding_dimension"] = embedding_dimension(data[0].get("embedding"))
        row["embedding_norm"] = mean_norm(data)
    usage = response.get("usage")
    if isinstance(usage, dict):
        for key in USAGE:
            value = usage.get(key)
            if type(value) in (int, float):
                row[key] = float(value)  # type: ignore[arg-type]
    return row
