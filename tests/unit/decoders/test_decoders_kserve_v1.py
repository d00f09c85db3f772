"""KServe v1 / TensorFlow Serving row and columnar payloads, from the TF Serving REST API docs."""

from __future__ import annotations

import numpy as np
import pytest

from sidecar.decoders import DecodeOptions
from sidecar.decoders.kserve_v1 import KServeV1Decoder
from sidecar.records import DecodeError

DECODER = KServeV1Decoder()
OPTIONS = DecodeOptions()
PATH = "/v1/models/half_plus_two:predict"


class TestRowFormat:
    def test_list_instances_become_positional_features(self) -> None:
        """Each instance list is a row; positions are f0..fN."""
        request = {"signature_name": "serving_default", "instances": [[1.0, 2.0], [5.0, 6.0]]}
        decoded = DECODER.decode(PATH, request, {"predictions": [3.5, 5.0]}, OPTIONS)
        assert decoded.model == "half_plus_two"
        assert decoded.n_rows == 2
        assert decoded.features == {"f0": [1.0, 5.0], "f1": [2.0, 6.0]}
        assert decoded.predictions == {"prediction": [3.5, 5.0]}

    def test_feature_names_name_positions(self) -> None:
        """Configured feature names replace f0..fN."""
        options = DecodeOptions(feature_names=("sepal", "petal"))
        decoded = DECODER.decode(PATH, {"instances": [[1, 2]]}, None, options)
        assert decoded.features == {"sepal": [1.0], "petal": [2.0]}

    def test_object_instances_with_missing_keys_and_types(self) -> None:
        """Object rows use their keys; absent keys are None; bools become strings."""
        request = {"instances": [{"a": 1, "b": "x"}, {"a": None, "c": True}]}
        decoded = DECODER.decode(PATH, request, None, OPTIONS)
        assert decoded.features == {"a": [1.0, None], "b": ["x", None], "c": [None, "true"]}
        assert decoded.predictions == {}

    def test_scalar_instances_are_one_feature(self) -> None:
        """A list of scalars is one feature per row."""
        decoded = DECODER.decode(
            PATH, {"instances": [1, 2, 3]}, {"predictions": [1, 2, 3]}, OPTIONS
        )
        assert decoded.features == {"f0": [1.0, 2.0, 3.0]}

    def test_probability_predictions_give_argmax_and_probability(self) -> None:
        """Rows of class probabilities become the argmax class and its probability."""
        response = {"predictions": [[0.1, 0.7, 0.2], [0.6, 0.3, 0.1]]}
        decoded = DECODER.decode(PATH, {"instances": [[1], [2]]}, response, OPTIONS)
        assert decoded.predictions == {"prediction": ["1", "0"], "probability": [0.7, 0.6]}
        assert decoded.probabilities == [(0.1, 0.7, 0.2), (0.6, 0.3, 0.1)]

    def test_non_probability_vectors_are_exploded(self) -> None:
        """Output vectors that are not probabilities become prediction.0..k-1."""
        response = {"predictions": [[1.5, -2.0], [0.0, 3.0]]}
        decoded = DECODER.decode(PATH, {"instances": [[1], [2]]}, response, OPTIONS)
        assert decoded.predictions == {"prediction.0": [1.5, 0.0], "prediction.1": [-2.0, 3.0]}
        assert decoded.probabilities is None

    def test_multi_output_predictions_use_output_names(self) -> None:
        """Each prediction object maps output names to values."""
        response = {"predictions": [{"classes": "cat", "scores": 0.9}]}
        decoded = DECODER.decode(PATH, {"instances": [[1]]}, response, OPTIONS)
        assert decoded.predictions == {"classes": ["cat"], "scores": [0.9]}

    def test_wide_rows_are_summarised_like_numpy(self) -> None:
        """A row wider than max_width becomes mean/std/min/max/l2, matching numpy."""
        rng = np.random.default_rng(7)
        rows = rng.normal(size=(3, 100))
        decoded = DECODER.decode(PATH, {"instances": rows.tolist()}, None, OPTIONS)
        assert sorted(decoded.features) == sorted(
            f"input.{s}" for s in ("mean", "std", "min", "max", "l2")
        )
        np.testing.assert_allclose(decoded.features["input.mean"], rows.mean(axis=1))  # type: ignore[arg-type]
        np.testing.assert_allclose(decoded.features["input.std"], rows.std(axis=1))  # type: ignore[arg-type]
        np.testing.assert_allclose(decoded.features["input.l2"], np.linalg.norm(rows, axis=1))  # type: ignore[arg-type]

    def test_row_mismatch_is_reported(self) -> None:
        """Three predictions for two instances is a row_mismatch."""
        with pytest.raises(DecodeError) as error:
            DECODER.decode(PATH, {"instances": [[1], [2]]}, {"predictions": [1, 2, 3]}, OPTIONS)
        assert error.value.reason == "row_mismatch"


class TestColumnarFormat:
    def test_named_inputs_are_columns(self) -> None:
        """Each named input holds one entry per row; vectors explode under the name."""
        request = {"inputs": {"tag": ["foo", "bar"], "signal": [[1, 2], [3, 4]]}}
        response = {"outputs": [[0.5], [0.25]]}
        decoded = DECODER.decode(PATH, request, response, OPTIONS)
        assert decoded.features == {
            "tag": ["foo", "bar"],
            "signal.0": [1.0, 3.0],
            "signal.1": [2.0, 4.0],
        }
        assert decoded.predictions == {"prediction": [0.5, 0.25]}

    def test_named_outputs_first_is_primary(self) -> None:
        """Columnar outputs: the first is the prediction, others keep their names."""
        response = {"outputs": {"label": ["a", "b"], "score": [0.1, 0.2]}}
        decoded = DECODER.decode(PATH, {"inputs": [[1], [2]]}, response, OPTIONS)
        assert decoded.predictions == {"prediction": ["a", "b"], "score": [0.1, 0.2]}

    def test_unequal_input_lengths_are_bad_shape(self) -> None:
        """Inputs with different row counts cannot be columns of one table."""
        with pytest.raises(DecodeError) as error:
            DECODER.decode(PATH, {"inputs": {"a": [1, 2], "b": [1]}}, None, OPTIONS)
        assert error.value.reason == "bad_shape"

    def test_request_without_inputs_is_invalid(self) -> None:
        """A body with neither instances nor inputs is not v1."""
        with pytest.raises(DecodeError) as error:
            DECODER.decode(PATH, {"rows": []}, None, OPTIONS)
        assert error.value.reason == "invalid_payload"
