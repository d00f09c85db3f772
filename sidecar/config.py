"""Settings: one frozen value, read from flags, environment and a YAML file.

Precedence is flag > environment (`SIDECAR_<KEY>`) > file (`key:` in YAML) > default. Every
option is declared once in `sidecar.options.OPTIONS`; the command line, the environment reader,
the file reader and `--help` are all built from that table. Nested sections of the file
(`drift:`, `performance:`, `fairness:`, `status:`, `redact:`, `metrics:`) are passed through as
plain data to the component that owns them, which validates them at start.

Errors are `ConfigError` (a `ValueError`) whose message names the key, the value and what is
allowed, e.g. "SIDECAR_PORT='http' is not an integer in [0, 65535]".
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from sidecar.options import ENV_PREFIX, OPTIONS, OPTIONS_BY_KEY, Option

__all__ = [
    "ENV_PREFIX",
    "OPTIONS",
    "OPTIONS_BY_KEY",
    "SECTIONS",
    "ConfigError",
    "Option",
    "Settings",
    "load_settings",
    "read_file",
]

SECTIONS = (
    "drift",
    "performance",
    "fairness",
    "status",
    "redact",
    "reference_bootstrap",
    "metrics",
)


class ConfigError(ValueError):
    """An invalid setting; the message names the key, the value and what is allowed."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Every option's value (one typed field per entry of `OPTIONS`) and the file's sections."""

    upstream: str | None = None
    host: str = "0.0.0.0"
    port: int = 8000
    admin_host: str | None = None
    admin_port: int = 9464
    admin_token: str | None = None
    admin_token_file: str | None = None
    config: str | None = None
    reference: str | None = None
    state_dir: str | None = None
    connect_timeout: float = 5.0
    read_timeout: float = 300.0
    grace_period: float = 25.0
    upstream_host_header: str | None = None
    upstream_health_path: str | None = None
    max_connections: int = 1024
    header_timeout: float = 10.0
    keep_alive_timeout: float = 75.0
    max_client_connections: int = 4096
    ready_timeout_share: float = 0.5
    sample_rate: float = 1.0
    sample_max_per_second: int = 0
    sample_deterministic: bool = False
    capture_max_bytes: int = 1 << 20
    queue_size: int = 1024
    analysis_cpu_share: float = 0.25
    request_id_header: str = "x-request-id"
    protocol: str = "auto"
    model: str | None = None
    window_seconds: int = 300
    rolling_windows: int = 12
    max_features: int = 100
    snapshot_interval: float = 30.0
    log_format: str = "text"
    log_level: str = "info"
    sections: Mapping[str, Any] = field(default_factory=dict)

    def section(self, name: str) -> Any:
        """The nested section `name` of the config file, or None."""
        return self.sections.get(name)

    @property
    def effective_admin_host(self) -> str:
        """The admin bind address: explicit, else all interfaces only when a token guards it."""
        if self.admin_host:
            return self.admin_host
        return "0.0.0.0" if self.admin_token or self.admin_token_file else "127.0.0.1"

    def as_dict(self) -> dict[str, Any]:
        """Every option's value by key (the sections left out)."""
        return {option.key: getattr(self, option.key) for option in OPTIONS}


def _parse(option: Option, raw: Any, source: str) -> Any:
    text = (
        raw
        if isinstance(raw, str)
        else ("true" if raw is True else "false" if raw is False else str(raw))
    )
    try:
        return option.parse(text)
    except (TypeError, ValueError):
        raise ConfigError(f"{source}={raw!r} is not {option.allowed}") from None


def read_file(path: str) -> dict[str, Any]:
    """Read a YAML config file into a mapping; errors name the file and what is wrong."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except OSError as exc:
        raise ConfigError(f"config={path!r} cannot be read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config={path!r} is not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config={path!r} must be a mapping of keys to values")
    return data


def load_settings(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Merge flags (already parsed strings or values, None when absent), environment and file."""
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    environ = os.environ if environ is None else environ
    config_path = flags.get("config") or environ.get(ENV_PREFIX + "CONFIG")
    file_values = read_file(str(config_path)) if config_path else {}
    unknown = sorted(set(file_values) - set(OPTIONS_BY_KEY) - set(SECTIONS))
    if unknown:
        raise ConfigError(
            f"config key {unknown[0]!r} is unknown; allowed: "
            + ", ".join(sorted([*OPTIONS_BY_KEY, *SECTIONS]))
        )
    values: dict[str, Any] = {}
    for option in OPTIONS:
        if option.key in flags:
            values[option.key] = _parse(option, flags[option.key], option.flag)
        elif option.env in environ:
            values[option.key] = _parse(option, environ[option.env], option.env)
        elif option.key in file_values and file_values[option.key] is not None:
            values[option.key] = _parse(option, file_values[option.key], option.key)
        else:
            values[option.key] = option.default
    sections = {name: file_values[name] for name in SECTIONS if name in file_values}
    return Settings(**values, sections=sections)
