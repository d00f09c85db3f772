"""Logging set-up: plain text or JSON lines, never bodies or credential header values."""

from __future__ import annotations

import json
import logging
import sys
import time

REDACTED_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "proxy-authorization"})


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and exception text)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(fmt: str = "text", level: str = "info") -> None:
    """Route the sidecar's and uvicorn's logs to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def safe_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Headers fit for a log line: credential values replaced by `[redacted]`."""
    return [(k, "[redacted]" if k.lower() in REDACTED_HEADERS else v) for k, v in headers]
