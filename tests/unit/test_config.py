"""Settings come from flags, environment and file, in that order of precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidecar.config import ConfigError, load_settings


class TestPrecedence:
    def test_flag_beats_environment_beats_file_beats_default(self, tmp_path: Path) -> None:
        """Each source overrides the ones below it, option by option."""
        config = tmp_path / "c.yaml"
        config.write_text(
            "upstream: http://file:1\nport: 7001\nadmin_port: 7002\nread_timeout: 9\n"
        )
        settings = load_settings(
            {"config": str(config), "port": "7100"},
            environ={"SIDECAR_PORT": "7200", "SIDECAR_ADMIN_PORT": "7300"},
        )
        assert settings.port == 7100
        assert settings.admin_port == 7300
        assert settings.read_timeout == 9.0
        assert settings.upstream == "http://file:1"
        assert settings.connect_timeout == 5.0

    def test_defaults_match_the_documentation(self) -> None:
        """Listen on 0.0.0.0:8000, admin port 9464, timeouts 5 s and 300 s, sampling 1.0."""
        settings = load_settings({}, environ={})
        assert (settings.host, settings.port, settings.admin_port) == ("0.0.0.0", 8000, 9464)
        assert (settings.connect_timeout, settings.read_timeout) == (5.0, 300.0)
        assert settings.sample_rate == 1.0

    def test_config_file_from_environment(self, tmp_path: Path) -> None:
        """SIDECAR_CONFIG names the file when --config is absent."""
        config = tmp_path / "c.yaml"
        config.write_text("upstream: http://m:8080\ndrift:\n  threshold: 0.2\n")
        settings = load_settings({}, environ={"SIDECAR_CONFIG": str(config)})
        assert settings.upstream == "http://m:8080"
        assert settings.section("drift") == {"threshold": 0.2}


class TestAdminBinding:
    def test_admin_binds_loopback_without_a_token(self) -> None:
        """No token and no explicit host: the admin port stays on 127.0.0.1."""
        assert load_settings({}, environ={}).effective_admin_host == "127.0.0.1"
        with_token = load_settings({}, environ={"SIDECAR_ADMIN_TOKEN": "t"})
        assert with_token.effective_admin_host == "0.0.0.0"
        explicit = load_settings({"admin_host": "0.0.0.0"}, environ={})
        assert explicit.effective_admin_host == "0.0.0.0"


class TestErrors:
    @pytest.mark.parametrize(
        ("flags", "message"),
        [
            ({"port": "-1"}, "--port='-1' is not an integer in [0, 65535]"),
            ({"upstream": "localhost:8080"}, "--upstream='localhost:8080' is not an http"),
            ({"read_timeout": "0"}, "--read-timeout='0' is not a number of seconds > 0"),
            ({"protocol": "soap"}, "--protocol='soap' is not auto, kserve_v1"),
            ({"sample_deterministic": "maybe"}, "is not true or false"),
        ],
    )
    def test_errors_name_the_key_and_the_value(self, flags: dict[str, str], message: str) -> None:
        """The message says which key, which value, and what is allowed."""
        with pytest.raises(ConfigError) as info:
            load_settings(flags, environ={})
        assert message in str(info.value)

    def test_file_values_are_validated_with_the_key_name(self, tmp_path: Path) -> None:
        """A bad value in the file names the file key."""
        config = tmp_path / "c.yaml"
        config.write_text("sample_rate: 2\n")
        with pytest.raises(ConfigError, match="sample_rate=2 is not a number in"):
            load_settings({"config": str(config)}, environ={})

    def test_a_file_that_is_not_a_mapping_is_rejected(self, tmp_path: Path) -> None:
        """A YAML list at the top level is an error, not a crash."""
        config = tmp_path / "c.yaml"
        config.write_text("- a\n- b\n")
        with pytest.raises(ConfigError, match="must be a mapping"):
            load_settings({"config": str(config)}, environ={})


class TestTypedSettings:
    def test_every_option_is_a_typed_field_with_the_same_default(self) -> None:
        """Settings declares one field per option, and the field's default is the option's."""
        from dataclasses import fields

        from sidecar.config import OPTIONS, Settings

        names = [f.name for f in fields(Settings) if f.name != "sections"]
        assert names == [option.key for option in OPTIONS]
        defaults = Settings()
        for option in OPTIONS:
            assert getattr(defaults, option.key) == option.default, option.key
