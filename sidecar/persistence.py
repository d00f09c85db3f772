"""State snapshots in --state-dir, restored at start.

(Being built: atomic, versioned snapshots of the monitor's windows, reference and prediction
stores.)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sidecar.monitor import Monitor


class StateStore:
    """Snapshots the monitor into a directory and restores it."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def restore(self, monitor: Monitor, now: float) -> None:
        """Load the last snapshot into `monitor`, if there is a usable one."""

    def save(self, monitor: Monitor, now: float) -> None:
        """Write a snapshot of `monitor` atomically."""
