"""Generic JSON: an object is one row, a list is one row per entry; pointers say where to look.

With `features_pointer` / `predictions_pointer` (RFC 6901) the rows and predictions are read at
those locations instead of the body's top level. A response object is one row of prediction
columns (or, when its only value is a list with one entry per row, that list is the primary
prediction); a response list is aligned with the request rows. Bounded by `DecodeOptions`.
"""

from __future__ import annotations

from sidecar.decoders.base import DecodeOptions
from sidecar.decoders.columns import ColumnSet
from sidecar.decoders.outputs import Probabilities, add_primary, build
from sidecar.decoders.routes import detect_model
from sidecar.decoders.tabular import as_rows
from sidecar.records import Decoded, DecodeError


def resolve_pointer(document: object, pointer: str) -> object:
    """The value at an RFC 6901 JSON pointer; DecodeError("pointer_not_found") when absent."""
    value = document
    if not pointer:
        return value
    for token in pointer[1:].split("/"):
        key = token.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and (key == "0" or key[0] != "0"):
            index = int(key)
            if index >= len(value):
                raise DecodeError("pointer_not_found", f"{pointer[:80]!r}: index {index}")
            value = value[index]
        else:
            raise DecodeError("pointer_not_found", f"{pointer[:80]!r}: no {key[:40]!r}")
    return value


def generic_predictions(
    response: object, n_rows: int, options: DecodeOptions
) -> tuple[ColumnSet, Probabilities]:
    """Prediction columns from a generic response value."""
    columns = ColumnSet(n_rows, options)
    if response is None:
        return columns, None
    if isinstance(response, dict):
        values = list(response.values())
        if len(values) == 1 and isinstance(values[0], list) and len(values[0]) == n_rows:
            return columns, add_primary(columns, values[0])  # {"predictions": [...]} and kin
        if n_rows != 1:
            raise DecodeError("row_mismatch", f"one response object for {n_rows} request rows")
        columns.add_rows([response])
        return columns, None
    return columns, add_primary(columns, as_rows(response))


class GenericJSONDecoder:
    """Any JSON object or list of rows, optionally located by JSON pointers."""

    name = "generic"

    def matches(self, path: str, request: object) -> bool:
        """Whether the body is an object or a list (the fallback for any JSON document)."""
        return isinstance(request, dict | list)

    def decode(
        self, path: str, request: object, response: object | None, options: DecodeOptions
    ) -> Decoded:
        """Decode rows at the features pointer and predictions at the predictions pointer."""
        body = request
        if options.features_pointer is not None:
            body = resolve_pointer(request, options.features_pointer)
        rows = body if isinstance(body, list) else [body]
        features = ColumnSet(len(rows), options)
        features.add_tensor("", rows, options.feature_names)
        if options.predictions_pointer is not None and response is not None:
            response = resolve_pointer(response, options.predictions_pointer)
        if not isinstance(response, dict | list | str | int | float):
            response = None  # an event stream or nothing: no predictions
        predictions, probabilities = generic_predictions(response, len(rows), options)
        return build(self.name, detect_model(path, request), features, predictions, probabilities)
