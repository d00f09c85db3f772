"""The proxy's own answers and words: JSON error bodies, request ids, rate-limited failure logs.

A failure log line goes out at most once per `LOG_INTERVAL` (1 s) and counts those left out.
"""

from __future__ import annotations

import json
import logging
import random
import time

log = logging.getLogger("sidecar.proxy")

_random_bits = random.getrandbits

LOG_INTERVAL = 1.0
"""Seconds between two log lines about upstream failures."""


def error_response(
    status: int, error: str, detail: str
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """A JSON error answer of the proxy itself."""
    body = json.dumps({"error": error, "detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return status, headers, body


def mint_request_id() -> str:
    """A new random request id (128 bits, hex).

    Ids correlate labels with predictions; they need uniqueness, not secrecy, so the Mersenne
    Twister serves (os.urandom's syscall cost 6% of the event loop's time).
    """
    return f"{_random_bits(128):032x}"


class FailureLog:
    """Warns about upstream failures, one line per `LOG_INTERVAL` at most."""

    def __init__(self) -> None:
        self._next = 0.0
        self._skipped = 0

    def warn(self, status: int, detail: str) -> None:
        """Log one failure (or count it when a line went out less than a second ago)."""
        now = time.monotonic()
        if now < self._next:
            self._skipped += 1
            return
        more = f" ({self._skipped} more since the last line)" if self._skipped else ""
        log.warning("answered %d: %s%s", status, detail, more)
        self._next, self._skipped = now + LOG_INTERVAL, 0
