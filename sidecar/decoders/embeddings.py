"""OpenAI-compatible `/v1/embeddings` answers: how many vectors, how wide, how long.

Predictions per request: `embedding_count` (vectors returned), `embedding_dimension` (width of
the first vector), `embedding_norm` (mean L2 norm of the vectors, one numpy pass over at most
`MAX_NORM_VALUES` (4 million) floats, so a 1 MiB body costs well under a millisecond) and the
reported `prompt_tokens`/`total_tokens`. Vectors come as JSON floats or as base64 little-endian
float32 (`encoding_format: base64`). A model that starts returning unnormalised vectors, or
vectors of another width, shows up as drift of these columns against the reference.

Direction: `embedding_direction_0` .. `_3` are the mean, over the request's vectors, of each unit
vector's projection on one of `DIRECTIONS` (4) fixed random unit vectors (Gaussian, seeded by the
dimension, so every replica and the reference builder draw the same ones). A shift of the mean
direction moves the projections' distribution, which the per-column drift statistics compare
with the reference (sliced, random-projection drift detection); for isotropic d-dimensional
vectors each projection has standard deviation about 1/sqrt(d). One (n x d) @ (d x 4) product.
"""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache

import numpy as np

from sidecar.decoders.arrays import to_value
from sidecar.records import Value

MAX_NORM_VALUES = 1 << 22
DIRECTIONS = 4
DIRECTION_SEED = 20_260_101
MAX_DIRECTION_DIMENSION = 16_384
"""Wider vectors get no direction columns (the basis would cost 8 * 4 bytes per dimension)."""
DIRECTION_COLUMNS = tuple(f"embedding_direction_{i}" for i in range(DIRECTIONS))
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


@lru_cache(maxsize=8)
def directions(dimension: int) -> np.ndarray:
    """`DIRECTIONS` fixed random unit vectors of `dimension`, as a (dimension, 4) matrix."""
    rng = np.random.default_rng([DIRECTION_SEED, dimension])
    basis: np.ndarray = rng.standard_normal((dimension, DIRECTIONS))
    basis /= np.linalg.norm(basis, axis=0)
    return basis


def vectors_of(items: list[object]) -> list[np.ndarray]:
    """The readable embeddings of the items, at most `MAX_NORM_VALUES` floats in all."""
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
    return vectors


def geometry(items: list[object]) -> dict[str, Value]:
    """Mean L2 norm and mean direction projections of the items' embeddings."""
    row: dict[str, Value] = dict.fromkeys(("embedding_norm", *DIRECTION_COLUMNS))
    vectors = vectors_of(items)
    if not vectors:
        return row
    if len({v.size for v in vectors}) != 1:
        row["embedding_norm"] = float(np.mean([np.linalg.norm(v) for v in vectors]))
        return row
    matrix = np.stack(vectors)
    norms = np.linalg.norm(matrix, axis=1)
    row["embedding_norm"] = float(norms.mean())
    if 0 < matrix.shape[1] <= MAX_DIRECTION_DIMENSION and norms.all():
        projections = (matrix / norms[:, None]) @ directions(matrix.shape[1])
        row.update(zip(DIRECTION_COLUMNS, map(float, projections.mean(axis=0)), strict=True))
    return row


def embedding_predictions(response: object) -> dict[str, Value]:
    """The prediction cells of an embeddings response."""
    row: dict[str, Value] = dict.fromkeys(
        ("embedding_count", "embedding_dimension", "embedding_norm", *DIRECTION_COLUMNS, *USAGE)
    )
    if not isinstance(response, dict):
        return row
    data = response.get("data")
    if isinstance(data, list):
        row["embedding_count"] = float(len(data))
        if data and isinstance(data[0], dict):
            row["embedding_dimension"] = embedding_dimension(data[0].get("embedding"))
        row.update(geometry(data))
    usage = response.get("usage")
    if isinstance(usage, dict):
        for key in USAGE:
            value = usage.get(key)
            if type(value) in (int, float):
                row[key] = to_value(value)
    return row
