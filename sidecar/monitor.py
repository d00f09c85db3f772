"""The monitor: what the analysis worker does with captured pairs, and what the API reads.

Per pair: decode (counting failures by protocol and reason), then under one lock update the
model's windows. Models are bounded (`DEFAULT_MAX_MODELS`, 16): pairs for further model names are
analysed under the name `other`.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from sidecar.decoders import DecodeOptions, decode_pair
from sidecar.decoders.routes import protocol_for_path
from sidecar.records import Captured, Decoded, DecodeError

log = logging.getLogger("sidecar.monitor")

DEFAULT_MAX_MODELS = 16


@dataclass
class ModelCounters:
    """Plain counts per model: requests and rows analysed, payload errors."""

    requests: int = 0
    rows: int = 0
    payload_errors: int = 0


@dataclass
class MonitorOptions:
    """How the monitor decodes and groups what it sees."""

    protocol: str | None = None
    model: str | None = None
    decode: DecodeOptions = field(default_factory=DecodeOptions)
    max_models: int = DEFAULT_MAX_MODELS


class Monitor:
    """Decodes captured pairs and keeps per-model state; thread-safe through one lock."""

    def __init__(self, options: MonitorOptions | None = None) -> None:
        self.options = options or MonitorOptions()
        self.lock = threading.Lock()
        self.decode_errors: Counter[tuple[str, str]] = Counter()
        self.models: dict[str, ModelCounters] = {}

    def _model_key(self, name: str) -> str:
        if name in self.models or len(self.models) < self.options.max_models:
            return name
        return "other"

    def ingest(self, batch: Sequence[Captured], now: float) -> None:
        """Decode a batch and fold it into the windows; never raises for bad payloads."""
        protocol = self.options.protocol
        decoded: list[tuple[Captured, Decoded]] = []
        errors: list[tuple[str, str]] = []
        for pair in batch:
            try:
                decoded.append((pair, decode_pair(pair, self.options.decode, protocol)))
            except DecodeError as exc:
                errors.append((protocol or protocol_for_path(pair.path) or "auto", exc.reason))
        with self.lock:
            self.decode_errors.update(errors)
            for pair, payload in decoded:
                self._observe(pair, payload, now)

    def _observe(self, pair: Captured, payload: Decoded, now: float) -> None:
        name = self.options.model or payload.model or "default"
        key = self._model_key(name)
        counters = self.models.get(key)
        if counters is None:
            counters = self.models[key] = ModelCounters()
        counters.requests += 1
        counters.rows += payload.n_rows
