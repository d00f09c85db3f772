"""Hysteresis: a raised verdict clears only after it has been clean for `clear_after` seconds.

A `Latch` remembers, per key (a signal name, or a model's column), the worst level raised and
when it was last raised. `hold(key, level, now)` returns the level to report: the live one when
it is at least the held one, else the held one until `clear_after` seconds passed since it was
last raised. Levels: -1 unknown, 0 ok, 1 warning, 2 critical (drift: 1 drifted). So an input
flapping faster than `clear_after` reports one raised verdict, and a single clean poll never
reads as ok. Memory: one (level, time) pair per key ever raised, dropped when it clears.
Thread-safe (one lock); time is the `now` argument.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Held:
    """The level to report and, when it is held, how long ago it was last raised."""

    level: int
    held_for: float | None = None


class Latch:
    """Raised levels held until clean for `clear_after` seconds."""

    def __init__(self, clear_after: float) -> None:
        if not (math.isfinite(clear_after) and clear_after >= 0):
            raise ValueError(f"clear_after={clear_after!r} must be a finite number >= 0")
        self.clear_after = clear_after
        self._lock = threading.Lock()
        self._raised: dict[str, tuple[int, float]] = {}

    def raised(self) -> frozenset[str]:
        """The keys holding a raised level now (a key not among them holds nothing)."""
        with self._lock:
            return frozenset(self._raised)

    def hold(self, key: str, level: int, now: float) -> Held:
        """The level to report for `key` at `now`, given its live level."""
        with self._lock:
            held = self._raised.get(key)
            if level > 0 and (
                held is None or level >= held[0] or now - held[1] >= self.clear_after
            ):
                self._raised[key] = (level, now)
                return Held(level)
            if held is None:
                return Held(level)
            since = now - held[1]
            if since < self.clear_after and level < held[0]:
                return Held(held[0], max(0.0, since))
            if level <= 0:
                del self._raised[key]
            return Held(level)
