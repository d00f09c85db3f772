"""Threshold defaults, validation and reading from a config section."""

from __future__ import annotations

import pytest

from sidecar.signals import thresholds
from sidecar.signals.thresholds import StatusThresholds


class TestStatusThresholds:
    def test_every_field_defaults_to_its_constant(self) -> None:
        """Each field with a DEFAULT_<NAME> constant takes it as its default."""
        t = StatusThresholds()
        for name in t.__dataclass_fields__:
            constant = f"DEFAULT_{name.upper()}"
            if hasattr(thresholds, constant):
                assert getattr(t, name) == getattr(thresholds, constant), name

    def test_from_mapping_converts_strings(self) -> None:
        """Config values arrive as strings or numbers and are converted by field type."""
        t = StatusThresholds.from_mapping(
            {"min_rows": "20", "missing_critical": "0.5", "performance_floor": 0.8}
        )
        assert (t.min_rows, t.missing_critical, t.performance_floor) == (20, 0.5, 0.8)

    def test_unknown_key_is_named(self) -> None:
        """An unknown key is a ValueError naming the key and value."""
        with pytest.raises(ValueError, match=r"status\.missing_rate=0\.1"):
            StatusThresholds.from_mapping({"missing_rate": 0.1})

    def test_share_out_of_range_is_named(self) -> None:
        """A share above 1 is a ValueError naming the field."""
        with pytest.raises(ValueError, match=r"nan_warning=1\.5"):
            StatusThresholds(nan_warning=1.5)

    def test_non_number_is_named(self) -> None:
        """A value that is not a number is a ValueError naming it."""
        with pytest.raises(ValueError, match=r"status\.slo_target='abc'"):
            StatusThresholds.from_mapping({"slo_target": "abc"})

    def test_slo_target_must_leave_a_budget(self) -> None:
        """An SLO target of 1 leaves no error budget and is rejected."""
        with pytest.raises(ValueError, match=r"slo_target=1\.0"):
            StatusThresholds(slo_target=1.0)


class TestRetiredKeys:
    def test_retired_keys_are_accepted_ignored_and_named(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """An old config keeps loading; the warning says which setting took the key's place."""
        with caplog.at_level("WARNING", logger="sidecar.signals"):
            loaded = StatusThresholds.from_mapping(
                {"low_confidence_probability": 0.4, "dataset_drift_warning": 0.3}
            )
        assert loaded == StatusThresholds()
        assert "status.low_confidence_probability is ignored: the one cut-off is" in caplog.text
        assert "status.dataset_drift_warning is ignored: dataset drift uses" in caplog.text
