"""Values derived from immutable objects, kept for the last few objects by identity.

A wide reference profile (10^4 columns) yields per-column objects every report would otherwise
rebuild: the drift reports of columns a window has no data for, the quality schema. `Derived`
keeps what was built from the last `size` keys, where a key is a tuple of objects matched by
identity (`is`), not equality: comparing two 13,000-column profiles costs what building does.
An entry holds its key objects, so their ids cannot be reused while it is kept. Bounded: at most
`size` entries, the oldest dropped first. Thread-safe; `build` runs outside the lock (two
threads may build the same value once each; both results are equal).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Derived(Generic[T]):
    """The last `size` values built, each keyed by the identities of the objects it came from."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"size={size!r} must be >= 1")
        self.size = size
        self._lock = threading.Lock()
        self._built: dict[tuple[int, ...], tuple[tuple[object, ...], T]] = {}

    def get(self, key: tuple[object, ...], build: Callable[[], T]) -> T:
        """The value built for exactly these objects, building it on first use."""
        ids = tuple(map(id, key))
        with self._lock:
            found = self._built.get(ids)
        if found is not None and all(a is b for a, b in zip(found[0], key, strict=True)):
            return found[1]
        value = build()
        with self._lock:
            self._built.pop(ids, None)
            while len(self._built) >= self.size:
                self._built.pop(next(iter(self._built)))
            self._built[ids] = (key, value)
        return value

    def __len__(self) -> int:
        with self._lock:
            return len(self._built)
