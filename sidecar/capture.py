"""Capture: decide per request whether to sample, and tee the bodies of sampled requests.

Placeholder interface used by the proxy; the sampling and queueing logic lands with capture.
"""

from __future__ import annotations

from typing import Any, Protocol


class Tap(Protocol):
    """Receives copies of one sampled exchange's bytes."""

    def request_chunk(self, chunk: bytes) -> None: ...
    def response_start(self, status: int, headers: list[tuple[bytes, bytes]]) -> None: ...
    def response_chunk(self, chunk: bytes) -> None: ...
    def finish(
        self, status: int, duration: float, first_byte: float | None, complete: bool
    ) -> None: ...


class Capture(Protocol):
    """Decides per request whether to sample it, and returns a tap if so."""

    def begin(self, scope: dict[str, Any], request_id: str, now: float) -> Tap | None: ...
