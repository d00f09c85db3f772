"""MLflow scoring server `/invocations` JSON (also SageMaker-hosted MLflow models).

Requests carry one of `dataframe_split` (`columns` + `data` rows), `dataframe_records` (one object
per row), `instances` (rows) or `inputs` (rows, or columnar object), plus optional `params`,
which are ignored. Responses are `{"predictions": ...}` (a list of values, of records, or a
columnar object) or, from older servers, a bare list. Bounded by `DecodeOptions`.
"""

from __future__ import annotations

from sidecar.decoders.base import DecodeOptions
from sidecar.decoders.columns import ColumnSet
from sidecar.decoders.outputs import build
from sidecar.decoders.routes import detect_model
from sidecar.decoders.tabular import instance_columns, output_columns
from sidecar.records import Decoded, DecodeError

INPUT_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def split_columns(split: object, options: DecodeOptions) -> ColumnSet:
    """Feature columns from a pandas `split` orient object: `columns` and row-major `data`."""
    if not isinstance(split, dict) or not isinstance(split.get("data"), list):
        raise DecodeError("invalid_payload", "dataframe_split needs an object with a data list")
    data: list[object] = split["data"]
    if not all(isinstance(row, list) for row in data):
        return instance_columns(data, options)  # a single column written as a flat list
    widths = {len(row) for row in data}  # type: ignore[arg-type]
    names = split.get("columns")
    if not isinstance(names, list):
        names = [f"f{j}" for j in range(max(widths, default=0))]
    if len(widths) > 1 or (widths and widths.pop() != len(names)):
        raise DecodeError("bad_shape", f"dataframe_split rows do not have {len(names)} columns")
    columns = ColumnSet(len(data), options)
    for name, column in zip(names, zip(*data, strict=True), strict=False):
        columns.add_tensor(str(name), list(column))
    return columns


def record_columns(records: object, options: DecodeOptions) -> ColumnSet:
    """Feature columns from `dataframe_records`: one object per row."""
    if not isinstance(records, list):
        raise DecodeError("invalid_payload", "dataframe_records is not a list")
    columns = ColumnSet(len(records), options)
    columns.add_rows(records)
    return columns


class MLflowDecoder:
    """MLflow `/invocations` JSON in every input orient the scoring server accepts."""

    name = "mlflow"

    def matches(self, path: str, request: object) -> bool:
        """Whether the body uses a pandas orient key (instances/inputs are matched by path)."""
        return isinstance(request, dict) and (
            "dataframe_split" in request or "dataframe_records" in request
        )

    def decode(
        self, path: str, request: object, response: object | None, options: DecodeOptions
    ) -> Decoded:
        """Decode the request orient into features and the predictions into predictions."""
        if not isinstance(request, dict):
            raise DecodeError("invalid_payload", "mlflow request is not a JSON object")
        key = next((key for key in INPUT_KEYS if key in request), None)
        if key == "dataframe_split":
            features = split_columns(request[key], options)
        elif key == "dataframe_records":
            features = record_columns(request[key], options)
        elif key is not None:
            features = instance_columns(request[key], options)
        else:
            raise DecodeError("invalid_payload", f"mlflow request has none of {INPUT_KEYS}")
        outputs = response.get("predictions") if isinstance(response, dict) else response
        if not isinstance(response, dict | list):
            outputs = None
        predictions, probabilities = output_columns(outputs, features.n_rows, options)
        return build(self.name, detect_model(path, request), features, predictions, probabilities)
