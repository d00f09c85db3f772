"""Analysis metrics: drift, quality, performance, fairness and capture figures as instruments.

(Being built: observable instruments registered on the sidecar's meter provider, read from the
monitor at collection time.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sidecar.runtime import Runtime
    from sidecar.telemetry import Telemetry


def register_analysis_metrics(telemetry: Telemetry, runtime: Runtime) -> None:
    """Register the analysis instruments on `telemetry`'s meter provider."""
