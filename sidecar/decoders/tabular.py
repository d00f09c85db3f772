"""Row-format and columnar JSON shared by the KServe v1 / TF Serving and MLflow decoders.

Row format is a list with one entry per row (a list of values, an object, or a scalar);
columnar format is an object mapping each input name to a list with one entry per row. Both
produce a `ColumnSet`, so they share its bound of `max_features * n_rows` cells.
"""

from __future__ import annotations

from collections.abc import Sequence

from sidecar.decoders.base import DecodeOptions
from sidecar.decoders.columns import ColumnSet
from sidecar.decoders.outputs import Probabilities, add_primary, check_rows
from sidecar.records import DecodeError


def as_rows(value: object) -> Sequence[object]:
    """A batch as a list: a list stays itself, anything else is one row."""
    return value if isinstance(value, list) else [value]


def instance_columns(instances: object, options: DecodeOptions) -> ColumnSet:
    """Feature columns from row-format instances (or a columnar object)."""
    if isinstance(instances, dict):
        return columnar_columns(instances, options)
    rows = as_rows(instances)
    columns = ColumnSet(len(rows), options)
    columns.add_tensor("", rows, options.feature_names)
    return columns


def columnar_columns(inputs: dict[str, object], options: DecodeOptions) -> ColumnSet:
    """Feature columns from a columnar object; every input must have the same row count."""
    batches = {name: as_rows(value) for name, value in inputs.items()}
    counts = {len(rows) for rows in batches.values()}
    if len(counts) > 1:
        raise DecodeError("bad_shape", f"columnar inputs have row counts {sorted(counts)[:5]}")
    columns = ColumnSet(counts.pop() if counts else 0, options)
    for name, rows in batches.items():
        columns.add_tensor(name, rows)
    return columns


def output_columns(
    outputs: object, n_rows: int, options: DecodeOptions
) -> tuple[ColumnSet, Probabilities]:
    """Prediction columns from row-format or columnar outputs; the first output is primary."""
    columns = ColumnSet(n_rows, options)
    if outputs is None:
        return columns, None
    if not isinstance(outputs, dict):
        return columns, add_primary(columns, as_rows(outputs))
    probabilities = None
    for index, (name, value) in enumerate(outputs.items()):
        rows = as_rows(value)
        check_rows(len(rows), n_rows, f"values of output {name[:40]!r}")
        if index == 0:
            probabilities = add_primary(columns, rows)
        else:
            columns.add_tensor(name, rows)
    return columns, probabilities
