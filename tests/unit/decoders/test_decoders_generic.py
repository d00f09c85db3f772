"""Generic JSON rows, JSON pointers, flattening and the width/depth/feature caps."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sidecar.decoders import DecodeOptions, decode_pair
from sidecar.decoders.base import DecodedPayload
from sidecar.decoders.generic import GenericJSONDecoder, resolve_pointer
from sidecar.records import Captured, DecodeError

CapturedFactory = Callable[..., Captured]
DECODER = GenericJSONDecoder()
OPTIONS = DecodeOptions()


class TestRows:
    def test_flat_object_is_one_row(self) -> None:
        """An object's keys are the features of one row; a response object is predictions."""
        decoded = DECODER.decode("/score", {"age": 31, "vip": False}, {"score": 0.7}, OPTIONS)
        assert decoded.features == {"age": [31.0], "vip": ["false"]}
        assert decoded.predictions == {"score": [0.7]}

    def test_list_of_objects_is_many_rows_aligned_with_a_list(self) -> None:
        """A list of objects is one row each; a response list aligns with the rows."""
        decoded = DECODER.decode("/score", [{"a": 1}, {"a": 2, "b": "x"}], [0, 1], OPTIONS)
        assert decoded.features == {"a": [1.0, 2.0], "b": [None, "x"]}
        assert decoded.predictions == {"prediction": [0.0, 1.0]}

    def test_single_list_value_is_the_prediction(self) -> None:
        """`{"predictions": [...]}` with one entry per row is the primary prediction."""
        decoded = DECODER.decode("/score", [{"a": 1}, {"a": 2}], {"results": ["y", "n"]}, OPTIONS)
        assert decoded.predictions == {"prediction": ["y", "n"]}

    def test_object_response_for_many_rows_is_a_mismatch(self) -> None:
        """One response object cannot describe several rows."""
        with pytest.raises(DecodeError) as error:
            DECODER.decode("/score", [{"a": 1}, {"a": 2}], {"x": 1, "y": 2}, OPTIONS)
        assert error.value.reason == "row_mismatch"

    def test_nested_objects_flatten_with_dots_up_to_max_depth(self) -> None:
        """Nested keys become dotted names; objects beyond max_depth are dropped and flagged."""
        body = {"user": {"geo": {"city": "Oslo", "deep": {"er": {"est": 1}}}}, "n": [1, 2]}
        decoded = DECODER.decode("/score", body, None, DecodeOptions(max_depth=3))
        assert decoded.features == {"user.geo.city": ["Oslo"], "n.0": [1.0], "n.1": [2.0]}
        assert isinstance(decoded, DecodedPayload) and decoded.truncated

    def test_huge_integers_become_infinite_floats(self) -> None:
        """Integers beyond the float range do not raise."""
        decoded = DECODER.decode("/score", {"a": 10**400, "b": -(10**400)}, None, OPTIONS)
        assert decoded.features == {"a": [float("inf")], "b": [float("-inf")]}


class TestPointers:
    def test_pointers_locate_rows_and_predictions(self) -> None:
        """features_pointer and predictions_pointer select nested locations."""
        options = DecodeOptions(features_pointer="/payload/rows", predictions_pointer="/out/y")
        request = {"payload": {"rows": [{"a": 1}, {"a": 2}]}}
        decoded = DECODER.decode("/score", request, {"out": {"y": [3, 4]}}, options)
        assert decoded.features == {"a": [1.0, 2.0]}
        assert decoded.predictions == {"prediction": [3.0, 4.0]}

    def test_rfc6901_escapes_and_indices(self) -> None:
        """~1 is '/', ~0 is '~', and digits index arrays."""
        document = {"a/b": {"m~n": [10, 20]}}
        assert resolve_pointer(document, "/a~1b/m~0n/1") == 20
        assert resolve_pointer(document, "") is document

    @pytest.mark.parametrize("pointer", ["/missing", "/a~1b/m~0n/5", "/a~1b/m~0n/01"])
    def test_missing_locations(self, pointer: str) -> None:
        """Absent keys, out-of-range and leading-zero indices are pointer_not_found."""
        with pytest.raises(DecodeError) as error:
            resolve_pointer({"a/b": {"m~n": [10, 20]}}, pointer)
        assert error.value.reason == "pointer_not_found"

    def test_invalid_pointer_is_a_configuration_error(self) -> None:
        """Options refuse a pointer without the leading slash, naming it."""
        with pytest.raises(ValueError, match="'rows'"):
            DecodeOptions(features_pointer="rows")


class TestCaps:
    def test_ten_thousand_features_are_capped(self, captured: CapturedFactory) -> None:
        """A row with 10,000 keys keeps max_features columns and flags the truncation."""
        body = {f"k{i}": i for i in range(10_000)}
        decoded = decode_pair(captured("/score", body), DecodeOptions(max_features=1024))
        assert len(decoded.features) == 1024
        assert decoded.features["k0"] == [0.0]
        assert isinstance(decoded, DecodedPayload) and decoded.truncated

    def test_ten_thousand_positional_features_are_summarised(self) -> None:
        """A 10,000-wide numeric row is five summary columns, not 10,000."""
        decoded = DECODER.decode("/score", [list(range(10_000))], None, OPTIONS)
        assert sorted(decoded.features) == [
            "input.l2",
            "input.max",
            "input.mean",
            "input.min",
            "input.std",
        ]

    def test_wide_non_numeric_list_is_dropped(self) -> None:
        """A wide list of strings has no summary, so it is dropped and flagged."""
        decoded = DECODER.decode("/score", {"tags": ["x"] * 100, "a": 1}, None, OPTIONS)
        assert decoded.features == {"a": [1.0]}
        assert isinstance(decoded, DecodedPayload) and decoded.truncated

    @pytest.mark.parametrize(
        "kwargs",
        [{"max_width": 0}, {"max_depth": 99}, {"max_features": 0}, {"feature_names": ("",)}],
    )
    def test_bad_options_raise_value_error(self, kwargs: dict[str, object]) -> None:
        """Out-of-range options are refused at construction."""
        with pytest.raises(ValueError):
            DecodeOptions(**kwargs)  # type: ignore[arg-type]
