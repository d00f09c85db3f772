"""`split_column` keeps numbers and text apart whatever numpy would make of the list."""

from __future__ import annotations

import numpy as np

from sidecar.sketches.values import split_column


class TestMixedLists:
    """Lists mixing numbers and text."""

    def test_one_text_value_leaves_the_numbers_numeric(self) -> None:
        """[1.0, 'abc', 2.0] splits into two numbers and one string (numpy alone makes 3 str)."""
        split = split_column([1.0, "abc", 2.0])
        assert split.numbers.tolist() == [1.0, 2.0] and split.strings == ["abc"]

    def test_text_only_list_and_string_array_stay_text(self) -> None:
        """A list of str and a numpy string array take the all-text path."""
        assert split_column(["a", "b"]).strings == ["a", "b"]
        assert split_column(np.array(["a", "b"])).strings == ["a", "b"]
        assert split_column(["a", "b"]).numbers.size == 0
