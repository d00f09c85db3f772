"""Every option of `sidecar run`, declared once: key, parser, default, what is allowed, help.

The command line, the environment reader (`SIDECAR_<KEY>`), the YAML reader and `--help` are all
built from `OPTIONS`; `sidecar.config.Settings` has one typed field per entry (a test keeps the
two in step). Parsers raise ValueError; `sidecar.config` turns that into a ConfigError naming the
key, the value and `Option.allowed`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

ENV_PREFIX = "SIDECAR_"


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
        "header_timeout",
        _positive,
        10.0,
        "a number of seconds > 0",
        "seconds a client has to send a complete request head (then the connection closes)",
    ),
    Option(
        "keep_alive_timeout",
        _positive,
        75.0,
        "a number of seconds > 0",
        "seconds an idle client keep-alive connection stays open",
    ),
    Option(
        "max_client_connections",
        _positive_int,
        4096,
        "an integer >= 1",
        "most concurrent client connections or requests (then 503)",
    ),
    Option(
        "ready_timeout_share",
        _share,
        0.5,
        "a number in (0, 1]",
        "share of upstream timeouts over the last 30 s at which /readyz turns 503",
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
