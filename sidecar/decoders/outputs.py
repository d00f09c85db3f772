"""Model outputs to prediction columns, and the assembly of a decoder's result.

The primary output becomes `prediction`. When it is an (N, C>1) matrix whose rows are probability
vectors (every entry >= 0, each row summing to 1 within 1e-3), `prediction` is the argmax class
index as a str, `probability` its probability, and the vectors themselves are kept in
`Decoded.probabilities` when C <= max_width (else None, to bound memory at max_width floats a row).
A response whose row count differs from the request's raises `row_mismatch`: the pair is counted
as a decode error rather than guessing which rows the outputs belong to.
"""

from __future__ import annotations

from collections.abc import Sequence

from sidecar.decoders.arrays import FloatArray, numeric_array, probability_rows
from sidecar.decoders.base import DecodedPayload
from sidecar.decoders.columns import ColumnSet
from sidecar.records import DecodeError

PRIMARY = "prediction"
PROBABILITY = "probability"

Probabilities = list[tuple[float, ...]] | None


def check_rows(found: int, expected: int, what: str = "outputs") -> None:
    """Raise DecodeError("row_mismatch") unless the response has one entry per request row."""
    if found != expected:
        raise DecodeError("row_mismatch", f"{found} {what} for {expected} request rows")


def add_probabilities(columns: ColumnSet, matrix: FloatArray) -> Probabilities:
    """Add argmax class and its probability from an (N, C) probability matrix."""
    columns.add(PRIMARY, matrix.argmax(axis=1).astype(str).tolist())
    columns.add(PROBABILITY, matrix.max(axis=1).tolist())
    if matrix.shape[1] > columns.options.max_width:
        return None
    return [tuple(row) for row in matrix.tolist()]


def add_primary(columns: ColumnSet, values: Sequence[object]) -> Probabilities:
    """Add the primary output (one entry per row): probability vectors, numbers, labels, objects."""
    check_rows(len(values), columns.n_rows)
    array = numeric_array(values)
    if array is not None and array.ndim == 2 and probability_rows(array):
        return add_probabilities(columns, array)
    if values and all(isinstance(value, dict) for value in values):
        columns.add_rows(values)  # records, e.g. {"label": .., "score": ..}: keep their keys
    else:
        columns.add_tensor(PRIMARY, values)
    return None


def build(
    protocol: str,
    model: str,
    features: ColumnSet,
    predictions: ColumnSet,
    probabilities: Probabilities = None,
) -> DecodedPayload:
    """The decoder result from its two column sets."""
    return DecodedPayload(
        protocol=protocol,
        model=model,
        n_rows=features.n_rows,
        features=features.columns,
        predictions=predictions.columns,
        probabilities=probabilities,
        truncated=features.truncated or predictions.truncated,
    )
