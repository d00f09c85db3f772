"""History: a bounded ring of per-window summaries per model, and of traffic figures.

A `Summary` is what one closed window looked like: overall status and each signal's verdict,
per column the deciding drift statistic with its method, threshold and verdict, missing and NaN
rates, the prediction distribution (class shares or p10/p50/p90), a few performance figures
(realised and estimated) and the demographic parity difference per fairness attribute. Bounds:
`DEFAULT_CAPACITY` (288) summaries per model, i.e. 24 h at the default 300-s window (a 10-s
window keeps 48 min); `DEFAULT_MAX_MODELS` (16) models, as the monitor; `DEFAULT_MAX_COLUMNS`
(40) columns per summary; `DEFAULT_MAX_SHARES` (8) classes per prediction distribution; figures
rounded to `DEFAULT_DIGITS` (4) significant digits. A summary of 40 columns is about 6 kB of
JSON, so a model's ring stays under ~1.7 MB and the whole history under ~28 MB at 16 models
(several times less in the gzip-compressed state snapshot). Traffic points (one per window, all
models together) share the same capacity.

`to_dict()`/`from_dict()` give the versioned plain form kept in the state snapshot; `from_dict`
raises ValueError for a malformed or unknown-version document. Thread-safe through one lock.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_CAPACITY = 288
DEFAULT_MAX_MODELS = 16
DEFAULT_MAX_COLUMNS = 40
DEFAULT_MAX_SHARES = 8
DEFAULT_DIGITS = 4
FORMAT_VERSION = 1


def number(value: Any) -> float | None:
    """`value` as a finite float, else None (bools, strings and NaN are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def figure(value: Any, digits: int = DEFAULT_DIGITS) -> float | None:
    """`number(value)` rounded to `digits` significant digits (a chart needs no more)."""
    found = number(value)
    return None if found is None else float(f"{found:.{digits}g}")


def mapping(value: Any) -> Mapping[str, Any]:
    """`value` if it is a mapping, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def flag(value: Any) -> bool | None:
    """`value` if it is a bool, else None."""
    return value if isinstance(value, bool) else None


def text(value: Any) -> str | None:
    """`value` if it is a string, else None."""
    return value if isinstance(value, str) else None


def _numbers(value: Any) -> dict[str, float | None]:
    return {str(k): number(v) for k, v in mapping(value).items()}


@dataclass(frozen=True)
class ColumnPoint:
    """One column in one window: the deciding drift statistic, its verdict, quality rates."""

    method: str | None = None
    statistic: float | None = None
    threshold: float | None = None
    drift: bool | None = None
    missing: float | None = None
    nan: float | None = None
    distribution: Mapping[str, float | None] = field(default_factory=dict)
    """Predictions only: class shares, or p10/p50/p90/mean of a numeric output."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (no `distribution` key when it is empty)."""
        # Spelled out: dataclasses.asdict deep-copies, ~40x slower over a full ring.
        out: dict[str, Any] = {
            "method": self.method,
            "statistic": self.statistic,
            "threshold": self.threshold,
            "drift": self.drift,
            "missing": self.missing,
            "nan": self.nan,
        }
        if self.distribution:
            out["distribution"] = dict(self.distribution)
        return out

    @classmethod
    def from_dict(cls, data: Any) -> ColumnPoint:
        """Restore from `to_dict()` output; unusable fields become None."""
        data = mapping(data)
        return cls(
            text(data.get("method")),
            number(data.get("statistic")),
            number(data.get("threshold")),
            flag(data.get("drift")),
            number(data.get("missing")),
            number(data.get("nan")),
            _numbers(data.get("distribution")),
        )


@dataclass(frozen=True)
class Summary:
    """One model's closed window, as the page and `/api/v1/history` show it over time."""

    start: float
    end: float
    rows: int = 0
    status: str | None = None
    signals: Mapping[str, str] = field(default_factory=dict)
    dataset_share: float | None = None
    features: Mapping[str, ColumnPoint] = field(default_factory=dict)
    predictions: Mapping[str, ColumnPoint] = field(default_factory=dict)
    performance: Mapping[str, float | None] = field(default_factory=dict)
    fairness: Mapping[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "start": self.start,
            "end": self.end,
            "rows": self.rows,
            "status": self.status,
            "signals": dict(self.signals),
            "dataset_share": self.dataset_share,
            "features": {k: v.to_dict() for k, v in self.features.items()},
            "predictions": {k: v.to_dict() for k, v in self.predictions.items()},
            "performance": dict(self.performance),
            "fairness": dict(self.fairness),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Summary:
        """Restore from `to_dict()` output; raises ValueError without a start and an end."""
        data = mapping(data)
        start, end = number(data.get("start")), number(data.get("end"))
        if start is None or end is None:
            raise ValueError(f"history summary without a start and end: {dict(data)!r:.80}")
        return cls(
            start,
            end,
            int(number(data.get("rows")) or 0),
            text(data.get("status")),
            {str(k): str(v) for k, v in mapping(data.get("signals")).items()},
            number(data.get("dataset_share")),
            {str(k): ColumnPoint.from_dict(v) for k, v in mapping(data.get("features")).items()},
            {str(k): ColumnPoint.from_dict(v) for k, v in mapping(data.get("predictions")).items()},
            _numbers(data.get("performance")),
            _numbers(data.get("fairness")),
        )


@dataclass(frozen=True)
class TrafficPoint:
    """Proxied requests over `seconds` up to `time`: count, 5xx, latency p50 and p99."""

    time: float
    seconds: float
    requests: int
    errors: int
    p50: float | None = None
    p99: float | None = None

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def error_rate(self) -> float | None:
        """Share of 5xx answers (None without requests)."""
        return self.errors / self.requests if self.requests else None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "time": self.time,
            "seconds": self.seconds,
            "requests": self.requests,
            "errors": self.errors,
            "p50": self.p50,
            "p99": self.p99,
        }

    @classmethod
    def from_dict(cls, data: Any) -> TrafficPoint:
        """Restore from `to_dict()` output; raises ValueError without a time."""
        data = mapping(data)
        moment = number(data.get("time"))
        if moment is None:
            raise ValueError(f"traffic point without a time: {dict(data)!r:.80}")
        return cls(
            moment,
            number(data.get("seconds")) or 0.0,
            int(number(data.get("requests")) or 0),
            int(number(data.get("errors")) or 0),
            number(data.get("p50")),
            number(data.get("p99")),
        )


def _append(ring: deque[Any], item: Any, key: float, key_of: Any) -> None:
    """Append in time order: the same key replaces the last item, an older one is dropped."""
    if ring:
        last = key_of(ring[-1])
        if key == last:
            ring[-1] = item
            return
        if key < last:
            return
    ring.append(item)


class History:
    """Per-model rings of window summaries plus one ring of traffic points."""

    def __init__(
        self, capacity: int = DEFAULT_CAPACITY, max_models: int = DEFAULT_MAX_MODELS
    ) -> None:
        if capacity < 1 or max_models < 1:
            raise ValueError(f"capacity={capacity!r} and max_models={max_models!r} must be >= 1")
        self.capacity = capacity
        self.max_models = max_models
        self._lock = threading.Lock()
        self._models: dict[str, deque[Summary]] = {}
        self._traffic: deque[TrafficPoint] = deque(maxlen=capacity)

    def record(self, model: str, summary: Summary) -> bool:
        """Keep `summary` for `model` (replacing one of the same window); False when full."""
        with self._lock:
            ring = self._models.get(model)
            if ring is None:
                if len(self._models) >= self.max_models:
                    return False
                ring = self._models[model] = deque(maxlen=self.capacity)
            _append(ring, summary, summary.start, lambda s: s.start)
            return True

    def record_traffic(self, point: TrafficPoint) -> None:
        """Keep one traffic point."""
        with self._lock:
            _append(self._traffic, point, point.time, lambda p: p.time)

    def models(self) -> list[str]:
        """Models with at least one summary."""
        with self._lock:
            return list(self._models)

    def summaries(self, model: str) -> tuple[Summary, ...]:
        """`model`'s summaries, oldest first (empty when unknown)."""
        with self._lock:
            return tuple(self._models.get(model, ()))

    def traffic(self) -> tuple[TrafficPoint, ...]:
        """Traffic points, oldest first."""
        with self._lock:
            return tuple(self._traffic)

    def to_json(self, model: str) -> dict[str, Any]:
        """The `GET /api/v1/history` body for one model."""
        return {
            "model": model,
            "capacity": self.capacity,
            "summaries": [s.to_dict() for s in self.summaries(model)],
            "traffic": [p.to_dict() for p in self.traffic()],
        }

    def to_dict(self) -> dict[str, Any]:
        """The versioned plain form kept in the state snapshot."""
        with self._lock:
            models = {name: list(ring) for name, ring in self._models.items()}
            traffic = list(self._traffic)
        return {
            "version": FORMAT_VERSION,
            "models": {name: [s.to_dict() for s in ring] for name, ring in models.items()},
            "traffic": [p.to_dict() for p in traffic],
        }

    def load_dict(self, data: Any) -> None:
        """Replace the contents with `to_dict()` output under this history's bounds, all or none.

        Raises ValueError for another version or a malformed document (nothing is changed then).
        """
        data = mapping(data)
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(
                f"history version {data.get('version')!r} is not supported "
                f"(expected {FORMAT_VERSION})"
            )
        models: dict[str, deque[Summary]] = {}
        for name, raw in list(mapping(data.get("models")).items())[: self.max_models]:
            models[str(name)] = self._ring(Summary.from_dict(s) for s in _items(raw, name))
        traffic = self._ring(TrafficPoint.from_dict(p) for p in _items(data.get("traffic"), ""))
        with self._lock:
            self._models, self._traffic = models, traffic

    def _ring(self, items: Iterable[Any]) -> deque[Any]:
        return deque(items, maxlen=self.capacity)


def _items(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"history {where or 'traffic'}: expected a list, got {value!r:.80}")
    return value
