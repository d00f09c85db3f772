"""KServe v1 / TensorFlow Serving REST predict: `{"instances": [...]}` or `{"inputs": ...}`.

Row format: `{"signature_name"?, "instances": [row, ...]}` -> `{"predictions": [out, ...]}`,
a row being a list (features f0..fN or `feature_names`), an object (its keys) or a scalar.
Columnar format: `{"inputs": {"name": [per-row values], ...}}` (or `"inputs": [...]`, one
unnamed input) -> `{"outputs": ...}`. Bounded by `DecodeOptions` like every decoder.
"""

from __future__ import annotations

from sidecar.decoders.base import DecodeOptions
from sidecar.decoders.outputs import build
from sidecar.decoders.routes import detect_model
from sidecar.decoders.tabular import instance_columns, output_columns
from sidecar.records import Decoded, DecodeError


def is_v2_tensor_list(inputs: object) -> bool:
    """Whether `inputs` looks like Open Inference Protocol tensors (objects with a datatype)."""
    return (
        isinstance(inputs, list)
        and bool(inputs)
        and isinstance(inputs[0], dict)
        and "datatype" in inputs[0]
    )


class KServeV1Decoder:
    """KServe v1 and TensorFlow Serving row and columnar JSON."""

    name = "kserve_v1"

    def matches(self, path: str, request: object) -> bool:
        """Whether the body has `instances`, or TF `inputs` that are not v2 tensors."""
        if not isinstance(request, dict):
            return False
        if "instances" in request:
            return True
        return "inputs" in request and not is_v2_tensor_list(request["inputs"])

    def decode(
        self, path: str, request: object, response: object | None, options: DecodeOptions
    ) -> Decoded:
        """Decode instances/inputs into features and predictions/outputs into predictions."""
        if not isinstance(request, dict):
            raise DecodeError("invalid_payload", "kserve_v1 request is not a JSON object")
        if "instances" in request:
            features = instance_columns(request["instances"], options)
        elif "inputs" in request:
            features = instance_columns(request["inputs"], options)
        else:
            raise DecodeError("invalid_payload", "kserve_v1 request has no instances or inputs")
        outputs = None
        if isinstance(response, dict):
            outputs = response.get("predictions", response.get("outputs"))
        predictions, probabilities = output_columns(outputs, features.n_rows, options)
        return build(self.name, detect_model(path, request), features, predictions, probabilities)
