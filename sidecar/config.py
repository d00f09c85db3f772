"""Settings: one frozen value, read from flags, environment and a YAML file.

Precedence is flag > environment (`SIDECAR_<KEY>`) > file (`key:` in YAML) > default. Every
option is declared once in `OPTIONS`; the command line, the environment reader, the file reader
and `--help` are all built from that table. Nested sections of the file (`drift:`,
`performance:`, `fairness:`, `status:`, `redact:`, `metrics:`) are passed through as plain data to
the component that owns them, which validates them at start.

Errors are `ConfigError` (a `ValueError`) whose message names the key, the value and what is
allowed, e.g. "SIDECAR_PORT='http' is not an integer in [0, 65535]".
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import yaml

ENV_PREFIX = "SIDECAR_"
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


def _port(value: str) -> int:
    port = int(value)
    if not 0 <= port <= 65535:
        raise ValueError
    return port


def _positive(value: str) -> float:
    number = float(value)
    if not (number > 0 and math.isfinite(number)):
        raise ValueError
    return number


def _non_negative_int(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError
    return number


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError
    return number


def _ratio(value: str) -> float:
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise ValueError
    return number


def _share(value: str) -> float:
    number = float(value)
    if not 0.0 < number <= 1.0:
        raise ValueError
    return number


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError


def _url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError
    parts.port  # noqa: B018 - raises ValueError for a malformed port
    return value.rstrip("/")


def _text(value: str) -> str:
    return value


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value not in allowed:
            raise ValueError
        return value

    return parse


@dataclass(frozen=True, slots=True)
class Option:
    """One setting: its key, parser, default, what is allowed, and its help text."""

    key: str
    parse: Callable[[str], Any]
    default: Any
    allowed: str
    help: str
    group: str = "proxy"
    choices: tuple[str, ...] = ()

    @property
    def is_flag(self) -> bool:
        """Whether the option is a boolean, given on the command line without a value."""
        return self.parse is _bool

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.key.upper()

    @property
    def flag(self) -> str:
        return "--" + self.key.replace("_", "-")


def _choice_option(
    key: str, choices: tuple[str, ...], default: str, help: str, group: str
) -> Option:
    """An option whose value is one of `choices` (listed in --help and in errors)."""
    allowed = ", ".join(choices[:-1]) + " or " + choices[-1]
    return Option(key, _choice(*choices), default, allowed, help, group, choices)


OPTIONS: tuple[Option, ...] = (
    Option(
        "upstream",
        _url,
        None,
        "an http:// or https:// URL",
        "URL of the model server to forward to, e.g. http://127.0.0.1:8080",
    ),
    Option("host", _text, "0.0.0.0", "an interface address", "address the proxy listens on"),
    Option("port", _port, 8000, "an integer in [0, 65535]", "port the proxy listens on"),
    Option(
        "admin_host",
        _text,
        None,
        "an interface address",
        "address of the admin listener (default 0.0.0.0 when an admin token is set, "
        "127.0.0.1 otherwise)",
        "admin",
    ),
    Option(
        "admin_port",
        _port,
        9464,
        "an integer in [0, 65535]",
        "port of the admin listener (/healthz, /readyz, /metrics, /api/v1/)",
        "admin",
    ),
    Option(
        "admin_token",
        _text,
        None,
        "a string",
        "bearer token required by admin endpoints that change state",
        "admin",
    ),
    Option(
        "admin_token_file",
        _text,
        None,
        "a file path",
        "file holding the admin token (a mounted Secret)",
        "admin",
    ),
    Option(
        "config", _text, None, "a YAML file path", "YAML file with any of these options", "general"
    ),
    Option(
        "reference",
        _text,
        None,
        "a reference profile JSON path",
        "reference profile built by `sidecar profile`, for drift",
        "analysis",
    ),
    Option(
        "state_dir",
        _text,
        None,
        "a directory path",
        "directory for state snapshots, restored at start",
        "analysis",
    ),
    Option(
        "connect_timeout",
        _positive,
        5.0,
        "a number of seconds > 0",
        "seconds to wait for a connection to the upstream (then 504)",
    ),
    Option(
        "read_timeout",
        _positive,
        300.0,
        "a number of seconds > 0",
        "seconds to wait for upstream bytes before giving up (then 504)",
    ),
    Option(
        "grace_period",
        _positive,
        25.0,
        "a number of seconds > 0",
        "on SIGTERM, seconds to let in-flight requests finish",
    ),
    Option(
        "upstream_host_header",
        _text,
        None,
        "a host name",
        "Host header sent upstream (default: the client's Host, as Envoy does)",
    ),
    Option(
        "upstream_health_path",
        _text,
        None,
        "a path such as /v2/health/ready",
        "if set, /readyz also requires GET on this upstream path to answer 2xx",
    ),
    Option(
        "max_connections",
        _positive_int,
        1024,
        "an integer >= 1",
        "most concurrent connections to the upstream",
    ),
    Option(
        "sample_rate",
        _ratio,
        1.0,
        "a number in [0, 1]",
        "share of requests captured for analysis",
        "capture",
    ),
    Option(
        "sample_max_per_second",
        _non_negative_int,
        0,
        "an integer >= 0",
        "cap on sampled requests per second (0: no cap)",
        "capture",
    ),
    Option(
        "sample_deterministic",
        _bool,
        False,
        "true or false",
        "sample by a hash of the request id, so replicas sample the same requests",
        "capture",
    ),
    Option(
        "capture_max_bytes",
        _positive_int,
        1 << 20,
        "an integer >= 1",
        "bodies larger than this are not captured (counted as too_large)",
        "capture",
    ),
    Option(
        "queue_size",
        _positive_int,
        1024,
        "an integer >= 1",
        "sampled pairs waiting for analysis; more are dropped and counted",
        "capture",
    ),
    Option(
        "analysis_cpu_share",
        _share,
        0.25,
        "a number in (0, 1]",
        "share of one core analysis may use before sampling is lowered (5%% of it while the "
        "process is CPU-bound; 1 disables the budget)",
        "capture",
    ),
    Option(
        "request_id_header",
        _text,
        "x-request-id",
        "a header name",
        "header carrying the request id (minted and added when absent)",
        "capture",
    ),
    _choice_option(
        "protocol",
        ("auto", "kserve_v1", "open_inference", "mlflow", "openai", "generic"),
        "auto",
        "payload protocol of the model server (auto: detected per request)",
        "capture",
    ),
    Option(
        "model",
        _text,
        None,
        "a model name",
        "model name label (default: taken from the path or payload)",
        "capture",
    ),
    Option(
        "window_seconds",
        _positive_int,
        300,
        "an integer >= 1",
        "length of a tumbling analysis window",
        "analysis",
    ),
    Option(
        "rolling_windows",
        _positive_int,
        12,
        "an integer >= 1",
        "windows in the rolling view",
        "analysis",
    ),
    Option(
        "max_features",
        _positive_int,
        100,
        "an integer >= 1",
        "most features exported as metric series (the rest are counted)",
        "analysis",
    ),
    Option(
        "snapshot_interval",
        _positive,
        30.0,
        "a number of seconds > 0",
        "seconds between state snapshots when --state-dir is set",
        "analysis",
    ),
    _choice_option("log_format", ("text", "json"), "text", "log line format", "general"),
    _choice_option(
        "log_level",
        ("debug", "info", "warning", "error"),
        "info",
        "least severe level logged",
        "general",
    ),
)

OPTIONS_BY_KEY = {option.key: option for option in OPTIONS}


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
