"""Open Inference Protocol v2 tensors, from the KServe v2 / Triton / MLServer REST spec."""

from __future__ import annotations

import numpy as np
import pytest

from sidecar.decoders import DecodeOptions
from sidecar.decoders.open_inference import NUMERIC_DATATYPES, OpenInferenceDecoder
from sidecar.records import DecodeError

DECODER = OpenInferenceDecoder()
OPTIONS = DecodeOptions()
PATH = "/v2/models/iris/versions/1/infer"


def tensor(name: str, shape: list[int], datatype: str, data: object) -> dict[str, object]:
    """One v2 tensor object."""
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


def request(*tensors: dict[str, object]) -> dict[str, object]:
    """A v2 inference request."""
    return {"id": "42", "inputs": list(tensors)}


def response(*tensors: dict[str, object]) -> dict[str, object]:
    """A v2 inference response."""
    return {"model_name": "iris", "model_version": "1", "id": "42", "outputs": list(tensors)}


class TestInputs:
    def test_matrix_input_gives_one_feature_per_column(self) -> None:
        """A [N, k] input gives `<name>.0..k-1`, reshaping flat row-major data."""
        body = request(tensor("x", [2, 3], "FP32", [1, 2, 3, 4, 5, 6]))
        decoded = DECODER.decode(PATH, body, None, OPTIONS)
        assert decoded.model == "iris@1"  # the path names version 1
        assert decoded.n_rows == 2
        assert decoded.features == {"x.0": [1.0, 4.0], "x.1": [2.0, 5.0], "x.2": [3.0, 6.0]}

    def test_nested_data_equals_flat_data(self) -> None:
        """Nested `data` decodes exactly like its row-major flattening."""
        flat = DECODER.decode(
            PATH, request(tensor("x", [2, 2], "INT64", [1, 2, 3, 4])), None, OPTIONS
        )
        nested = DECODER.decode(
            PATH, request(tensor("x", [2, 2], "INT64", [[1, 2], [3, 4]])), None, OPTIONS
        )
        assert flat.features == nested.features

    def test_several_vector_inputs_are_one_feature_each(self) -> None:
        """[N] and [N, 1] tensors become one column named after the tensor."""
        body = request(
            tensor("age", [3], "INT32", [30, 40, 50]),
            tensor("income", [3, 1], "FP64", [[1.5], [2.5], [3.5]]),
        )
        decoded = DECODER.decode(PATH, body, None, OPTIONS)
        assert decoded.features == {"age": [30.0, 40.0, 50.0], "income": [1.5, 2.5, 3.5]}

    def test_feature_names_apply_to_a_single_input(self) -> None:
        """Configured names replace `<name>.j` for the only input tensor."""
        options = DecodeOptions(feature_names=("a", "b"))
        body = request(tensor("x", [1, 2], "FP32", [1, 2]))
        assert DECODER.decode(PATH, body, None, options).features == {"a": [1.0], "b": [2.0]}

    @pytest.mark.parametrize("datatype", sorted(NUMERIC_DATATYPES))
    def test_every_numeric_datatype_becomes_float(self, datatype: str) -> None:
        """UINT*, INT* and FP* data all decode to floats."""
        decoded = DECODER.decode(PATH, request(tensor("x", [2], datatype, [0, 7])), None, OPTIONS)
        assert decoded.features == {"x": [0.0, 7.0]}
        assert all(type(v) is float for v in decoded.features["x"])

    def test_bool_and_bytes_datatypes(self) -> None:
        """BOOL becomes "true"/"false" and BYTES stays a string."""
        body = request(
            tensor("flag", [2], "BOOL", [True, False]),
            tensor("text", [2], "BYTES", ["hello", "world"]),
        )
        decoded = DECODER.decode(PATH, body, None, OPTIONS)
        assert decoded.features == {"flag": ["true", "false"], "text": ["hello", "world"]}

    def test_nan_and_missing_cells(self) -> None:
        """NaN stays a float and null cells are None."""
        body = request(tensor("x", [3], "FP32", [float("nan"), None, 1.0]))
        cells = DECODER.decode(PATH, body, None, OPTIONS).features["x"]
        assert cells[0] != cells[0] and cells[1] is None and cells[2] == 1.0

    def test_wide_tensor_is_summarised(self) -> None:
        """A [N, 28, 28] image tensor becomes per-row summary statistics."""
        rng = np.random.default_rng(3)
        images = rng.random((2, 28, 28))
        body = request(tensor("image", [2, 28, 28], "FP32", images.ravel().tolist()))
        decoded = DECODER.decode(PATH, body, None, OPTIONS)
        flat = images.reshape(2, -1)
        np.testing.assert_allclose(decoded.features["image.max"], flat.max(axis=1))  # type: ignore[arg-type]
        np.testing.assert_allclose(decoded.features["image.l2"], np.linalg.norm(flat, axis=1))  # type: ignore[arg-type]
        assert len(decoded.features) == 5

    @pytest.mark.parametrize(
        ("spec", "reason"),
        [
            (tensor("x", [2, 2], "FP32", [1, 2, 3]), "bad_shape"),
            (tensor("x", [2, -1], "FP32", [1, 2]), "bad_shape"),
            (tensor("x", [2], "COMPLEX", [1, 2]), "bad_datatype"),
            (tensor("x", [2, 2], "FP32", [[1, 2], [3]]), "bad_shape"),
            ({"shape": [1], "data": [1]}, "invalid_payload"),
        ],
    )
    def test_malformed_tensors(self, spec: dict[str, object], reason: str) -> None:
        """Shapes that data does not fill, unknown datatypes and missing names are refused."""
        with pytest.raises(DecodeError) as error:
            DECODER.decode(PATH, request(spec), None, OPTIONS)
        assert error.value.reason == reason

    def test_inputs_with_different_batch_sizes(self) -> None:
        """Tensors must agree on the first dimension."""
        body = request(tensor("a", [2], "FP32", [1, 2]), tensor("b", [3], "FP32", [1, 2, 3]))
        with pytest.raises(DecodeError) as error:
            DECODER.decode(PATH, body, None, OPTIONS)
        assert error.value.reason == "bad_shape"


class TestOutputs:
    def test_probability_output_gives_class_and_probability(self) -> None:
        """An [N, C] probability output: argmax class as str, its probability, the vectors."""
        body = request(tensor("x", [2, 1], "FP32", [1, 2]))
        out = response(
            tensor("probs", [2, 3], "FP32", [0.1, 0.2, 0.7, 0.8, 0.1, 0.1]),
            tensor("latent", [2], "FP32", [3.0, 4.0]),
        )
        decoded = DECODER.decode(PATH, body, out, OPTIONS)
        assert decoded.predictions == {
            "prediction": ["2", "0"],
            "probability": [0.7, 0.8],
            "latent": [3.0, 4.0],
        }
        assert decoded.probabilities == [(0.1, 0.2, 0.7), (0.8, 0.1, 0.1)]

    def test_regression_and_label_outputs(self) -> None:
        """A [N] numeric output is the prediction; BYTES labels stay strings."""
        body = request(tensor("x", [2], "FP32", [1, 2]))
        numeric = DECODER.decode(
            PATH, body, response(tensor("y", [2], "FP64", [1.5, 2.5])), OPTIONS
        )
        labels = DECODER.decode(
            PATH, body, response(tensor("y", [2, 1], "BYTES", ["setosa", "virginica"])), OPTIONS
        )
        assert numeric.predictions == {"prediction": [1.5, 2.5]}
        assert labels.predictions == {"prediction": ["setosa", "virginica"]}

    def test_model_name_from_response_when_path_has_none(self) -> None:
        """On a non-v2 path the response's model_name names the model."""
        body = request(tensor("x", [1], "FP32", [1]))
        decoded = DECODER.decode("/infer", body, response(tensor("y", [1], "FP32", [1])), OPTIONS)
        assert decoded.model == "iris"

    def test_output_row_mismatch(self) -> None:
        """An output whose first dimension differs from the inputs' is a row_mismatch."""
        body = request(tensor("x", [2], "FP32", [1, 2]))
        with pytest.raises(DecodeError) as error:
            DECODER.decode(PATH, body, response(tensor("y", [3], "FP32", [1, 2, 3])), OPTIONS)
        assert error.value.reason == "row_mismatch"

    def test_error_response_has_no_predictions(self) -> None:
        """`{"error": ...}` carries no outputs."""
        body = request(tensor("x", [1], "FP32", [1]))
        decoded = DECODER.decode(PATH, body, {"error": "model not ready"}, OPTIONS)
        assert decoded.predictions == {}
