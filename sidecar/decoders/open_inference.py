"""Open Inference Protocol v2 (KServe v2, MLServer, Triton): named tensors in and out.

Request `{"inputs": [{"name", "shape", "datatype", "data", "parameters"?}, ...]}`, response
`{"model_name", "outputs": [tensor, ...]}`. `data` is row-major, flat or nested, and is
reshaped by `shape`, whose first dimension is the row count; tensors sent with the binary
extension arrive here already read (`sidecar.decoders.binary_tensors.BinaryData`). Numeric
datatypes (UINT8..64, INT8..64, FP16, BF16, FP32, FP64) become floats through one numpy
conversion per tensor; BOOL becomes "true"/"false"; BYTES stays str. A tensor [N, k] gives
columns `<name>.0..k-1` (`<name>` when k == 1, the configured `feature_names` when it is the only
input); more than `max_width` numeric columns are summarised per row. The first output is the
primary `prediction`.

With the model's metadata (`ModelMetadata`, fetched outside the decoders): a tensor without a
name takes the declared name at its position, one without a datatype the declared datatype; a
tensor whose declared shape has a fixed first dimension and equals the payload's shape is one
row (a model without a batch dimension); and the first declared output present is `prediction`,
whatever order the server answers in. Configured `feature_names` still win. A tensor in
shared memory (Triton's `shared_memory_region`) counts its rows but gives no columns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sidecar.decoders.arrays import (
    FloatArray,
    flatten_nested,
    numeric_array,
    probability_rows,
    to_value,
)
from sidecar.decoders.base import DecodeOptions
from sidecar.decoders.binary_tensors import BinaryData
from sidecar.decoders.columns import ColumnSet, position_name
from sidecar.decoders.metadata import ModelMetadata, TensorMetadata
from sidecar.decoders.outputs import PRIMARY, Probabilities, add_probabilities, build, check_rows
from sidecar.decoders.routes import DEFAULT_MODEL, MAX_MODEL_CHARS, model_label
from sidecar.records import Decoded, DecodeError, Value

NUMERIC_DATATYPES = frozenset(
    {"UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64"}
    | {"FP16", "BF16", "FP32", "FP64"}
)
DATATYPES = NUMERIC_DATATYPES | {"BOOL", "BYTES"}


@dataclass(frozen=True, slots=True)
class Tensor:
    """One v2 tensor as rows: a numeric (rows, width) matrix, or row-major cells."""

    name: str
    rows: int
    width: int
    matrix: FloatArray | None
    cells: list[Value] | None


def parse_tensor(spec: object, declared: Sequence[TensorMetadata] = (), index: int = 0) -> Tensor:
    """Validate one tensor object and reshape its data to (rows, width)."""
    if not isinstance(spec, dict):
        raise DecodeError("invalid_payload", "a v2 tensor is not a JSON object")
    name, datatype, known = _identity(spec, declared, index)
    shape = spec.get("shape")
    if datatype not in DATATYPES:
        raise DecodeError("bad_datatype", f"tensor {name[:40]!r} has datatype {datatype[:20]!r}")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise DecodeError("bad_shape", f"tensor {name[:40]!r} has shape {str(shape)[:40]}")
    size = math.prod(shape)
    rows = shape[0] if shape else 1
    if known is not None and not known.batched and tuple(shape) == known.shape:
        rows = 1 if size else 0  # no batch dimension: the whole tensor is one row
    width = size // rows if rows else 0
    if in_shared_memory(spec):
        return Tensor(name, rows, 0, None, [])  # its data is not in the body: rows, no columns
    data = spec.get("data")
    if isinstance(data, BinaryData):
        if isinstance(data.values, np.ndarray):
            return Tensor(name, rows, width, data.values.reshape(rows, width), None)
        return Tensor(name, rows, width, None, data.values)
    nested = flatten_nested(data if isinstance(data, list) else [data])
    if nested is None or len(nested[0]) != size:
        raise DecodeError("bad_shape", f"tensor {name[:40]!r} data does not fill shape {shape}")
    flat = nested[0]
    if datatype in NUMERIC_DATATYPES:
        array = numeric_array(flat)
        if array is not None:
            return Tensor(name, rows, width, array.reshape(rows, width), None)
    return Tensor(name, rows, width, None, _cells(flat, datatype))


def _identity(
    spec: dict[str, object], declared: Sequence[TensorMetadata], index: int
) -> tuple[str, str, TensorMetadata | None]:
    """Name and datatype of a tensor (from the metadata where the payload omits them)."""
    name, datatype = spec.get("name"), spec.get("datatype")
    if not name and index < len(declared):
        name = declared[index].name
    known = next((t for t in declared if t.name == name), None)
    if datatype is None and known is not None:
        datatype = known.datatype
    if not isinstance(name, str) or not isinstance(datatype, str):
        raise DecodeError("invalid_payload", "a v2 tensor needs a string name and datatype")
    return name, datatype.upper(), known


def in_shared_memory(spec: dict[str, object]) -> bool:
    """Whether a tensor's data lives in a shared-memory region (Triton's extension)."""
    parameters = spec.get("parameters")
    return isinstance(parameters, dict) and "shared_memory_region" in parameters


def _cells(flat: Sequence[object], datatype: str) -> list[Value]:
    if datatype == "BOOL" and set(map(type, flat)) <= {bool, int}:
        return np.where(np.asarray(flat, dtype=bool), "true", "false").tolist()  # type: ignore[no-any-return]
    return [to_value(value) for value in flat]


def add_tensor(
    columns: ColumnSet, prefix: str, tensor: Tensor, names: Sequence[str] | None = None
) -> None:
    """Add a tensor's columns under `prefix`."""
    if tensor.matrix is not None:
        columns.add_matrix(prefix, tensor.matrix, names)
        return
    cells = tensor.cells or []
    if tensor.width > columns.options.max_width and names is None:
        columns.truncated = True  # a wide tensor of labels has no numeric summary
        return
    for j in range(tensor.width):
        columns.add(position_name(prefix, j, tensor.width, names), cells[j :: tensor.width])


def add_primary_tensor(columns: ColumnSet, tensor: Tensor) -> Probabilities:
    """Add the first output as `prediction` (argmax and probability for probability rows)."""
    if tensor.matrix is not None and probability_rows(tensor.matrix):
        return add_probabilities(columns, tensor.matrix)
    add_tensor(columns, PRIMARY, tensor)
    return None


def tensors(specs: object, what: str, declared: Sequence[TensorMetadata] = ()) -> list[Tensor]:
    """Parse a list of tensor objects that share one row count."""
    if not isinstance(specs, list):
        raise DecodeError("invalid_payload", f"v2 {what} is not a list of tensors")
    parsed = [parse_tensor(spec, declared, index) for index, spec in enumerate(specs)]
    counts = {tensor.rows for tensor in parsed}
    if len(counts) > 1:
        raise DecodeError("bad_shape", f"v2 {what} have first dimensions {sorted(counts)[:5]}")
    return parsed


def declared_order(outputs: list[Tensor], declared: Sequence[TensorMetadata]) -> list[Tensor]:
    """Outputs in the model's declared order (undeclared ones after, as the server sent them)."""
    if not declared:
        return outputs
    order = {tensor.name: index for index, tensor in enumerate(declared)}
    return sorted(outputs, key=lambda tensor: order.get(tensor.name, len(order)))


class OpenInferenceDecoder:
    """Open Inference Protocol v2 (KServe v2, MLServer, Triton) JSON tensors."""

    name = "open_inference"

    def matches(self, path: str, request: object) -> bool:
        """Whether `inputs` is a list of objects carrying a `datatype`."""
        if not isinstance(request, dict):
            return False
        inputs = request.get("inputs")
        return (
            isinstance(inputs, list)
            and bool(inputs)
            and isinstance(inputs[0], dict)
            and ("datatype" in inputs[0])
        )

    def decode(
        self,
        path: str,
        request: object,
        response: object | None,
        options: DecodeOptions,
        metadata: ModelMetadata | None = None,
    ) -> Decoded:
        """Decode input tensors into features and output tensors into predictions."""
        if not isinstance(request, dict):
            raise DecodeError("invalid_payload", "v2 request is not a JSON object")
        inputs = tensors(request.get("inputs"), "inputs", metadata.inputs if metadata else ())
        n_rows = inputs[0].rows if inputs else 0
        features = ColumnSet(n_rows, options)
        names = options.feature_names if len(inputs) == 1 else None
        for tensor in inputs:
            add_tensor(features, tensor.name, tensor, names)
        predictions = ColumnSet(n_rows, options)
        probabilities = None
        model = model_label(path, request)
        if isinstance(response, dict) and "outputs" in response:
            declared = metadata.outputs if metadata else ()
            outputs = declared_order(tensors(response["outputs"], "outputs", declared), declared)
            for index, tensor in enumerate(outputs):
                check_rows(tensor.rows, n_rows, f"rows in output {tensor.name[:40]!r}")
                if index == 0:
                    probabilities = add_primary_tensor(predictions, tensor)
                else:
                    add_tensor(predictions, tensor.name, tensor)
            name = response.get("model_name")
            if isinstance(name, str) and name and model == DEFAULT_MODEL:
                model = name[:MAX_MODEL_CHARS]
        return build(self.name, model, features, predictions, probabilities)
