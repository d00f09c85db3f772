"""model-sidecar: a monitoring sidecar for machine-learning model servers."""

from __future__ import annotations

from sidecar.records import Captured, Decoded, DecodeError, Value

__version__ = "0.1.0"

__all__ = ["Captured", "DecodeError", "Decoded", "Value", "__version__"]
