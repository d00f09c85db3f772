"""MLflow scoring server payloads in every input orient, from the MLflow serving docs."""

from __future__ import annotations

import pytest

from sidecar.decoders import DecodeOptions
from sidecar.decoders.mlflow import MLflowDecoder
from sidecar.records import DecodeError

DECODER = MLflowDecoder()
OPTIONS = DecodeOptions()
PATH = "/invocations"


class TestInputs:
    def test_dataframe_split(self) -> None:
        """`columns` name the columns of row-major `data`; missing cells are None."""
        request = {
            "dataframe_split": {
                "index": [0, 1],
                "columns": ["age", "city", "vip"],
                "data": [[31, "Oslo", True], [None, "Rome", False]],
            }
        }
        decoded = DECODER.decode(PATH, request, {"predictions": [0, 1]}, OPTIONS)
        assert decoded.features == {
            "age": [31.0, None],
            "city": ["Oslo", "Rome"],
            "vip": ["true", "false"],
        }
        assert decoded.predictions == {"prediction": [0.0, 1.0]}

    def test_dataframe_split_with_wrong_width_is_bad_shape(self) -> None:
        """Rows that do not match the column count are refused."""
        request = {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2, 3]]}}
        with pytest.raises(DecodeError) as error:
            DECODER.decode(PATH, request, None, OPTIONS)
        assert error.value.reason == "bad_shape"

    def test_dataframe_records(self) -> None:
        """One object per row, keys are columns."""
        request = {"dataframe_records": [{"a": 1, "b": "x"}, {"a": 2}]}
        decoded = DECODER.decode(PATH, request, [5, 6], OPTIONS)
        assert decoded.features == {"a": [1.0, 2.0], "b": ["x", None]}
        assert decoded.predictions == {"prediction": [5.0, 6.0]}

    def test_instances_and_inputs(self) -> None:
        """`instances` rows and columnar `inputs` decode like TF Serving's."""
        rows = DECODER.decode(PATH, {"instances": [[1, 2]]}, None, OPTIONS)
        cols = DECODER.decode(PATH, {"inputs": {"a": [1, 2], "b": [3, 4]}}, None, OPTIONS)
        assert rows.features == {"f0": [1.0], "f1": [2.0]}
        assert cols.features == {"a": [1.0, 2.0], "b": [3.0, 4.0]}

    def test_params_are_ignored_and_unknown_orient_is_invalid(self) -> None:
        """`params` is not a feature; a body with no known orient is invalid."""
        decoded = DECODER.decode(PATH, {"inputs": [[1]], "params": {"k": 1}}, None, OPTIONS)
        assert decoded.features == {"f0": [1.0]}
        with pytest.raises(DecodeError) as error:
            DECODER.decode(PATH, {"params": {}}, None, OPTIONS)
        assert error.value.reason == "invalid_payload"


class TestPredictions:
    def test_records_predictions_keep_their_keys(self) -> None:
        """Newer servers return one object per row."""
        response = {"predictions": [{"label": "a", "score": 0.9}, {"label": "b", "score": 0.4}]}
        decoded = DECODER.decode(PATH, {"instances": [1, 2]}, response, OPTIONS)
        assert decoded.predictions == {"label": ["a", "b"], "score": [0.9, 0.4]}

    def test_columnar_predictions(self) -> None:
        """A predictions object of columns: the first column is primary."""
        response = {"predictions": {"yhat": [1.5, 2.5], "lower": [1.0, 2.0]}}
        decoded = DECODER.decode(PATH, {"instances": [1, 2]}, response, OPTIONS)
        assert decoded.predictions == {"prediction": [1.5, 2.5], "lower": [1.0, 2.0]}

    def test_probability_predictions(self) -> None:
        """predict_proba output gives argmax and probability."""
        response = {"predictions": [[0.25, 0.75]]}
        decoded = DECODER.decode(PATH, {"instances": [[1, 2]]}, response, OPTIONS)
        assert decoded.predictions == {"prediction": ["1"], "probability": [0.75]}
        assert decoded.probabilities == [(0.25, 0.75)]
