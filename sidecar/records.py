"""Records that flow one way through the sidecar: capture -> decoders -> windows -> statistics.

A `Captured` pair is what the proxy tees off a sampled request; a `Decoded` payload is what a
decoder makes of it: columns of named features and predictions, one value per row. Values are
`float` (numeric), `str` (categorical; booleans become "true"/"false") or `None` (missing);
`float("nan")` and infinities stay floats so data quality can count them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Value = float | str | None
"""One cell: numeric, categorical, or missing."""

BOOLEAN_TEXT = {True: "true", False: "false"}
"""The one spelling of a boolean cell, whatever its source (live JSON, CSV, JSON Lines, Parquet)."""

Columns = dict[str, list[Value]]
"""Column name -> one value per row."""


@dataclass(frozen=True, slots=True)
class Captured:
    """A sampled request/response pair, copied off the hot path."""

    request_id: str
    method: str
    path: str
    query: str
    status: int
    request_headers: tuple[tuple[str, str], ...]
    request_body: bytes
    response_body: bytes
    started: float
    """Unix time (seconds) at which the request arrived."""
    duration: float
    """Seconds from arrival to the last response byte."""
    first_byte: float | None = None
    """Seconds from arrival to the first response body chunk (time to first token for SSE)."""
    request_encoding: str = ""
    response_encoding: str = ""
    response_content_type: str = ""
    response_headers: tuple[tuple[str, str], ...] = ()
    """Response headers a decoder needs (`Inference-Header-Content-Length`), lower-case names."""


@dataclass(frozen=True, slots=True)
class Decoded:
    """Rows decoded from one request/response pair.

    `features` and `predictions` hold columns of equal length `n_rows`. By convention the
    primary model output is `predictions["prediction"]` (a class label as str, or a number),
    and `predictions["probability"]` is the probability of that predicted class when the model
    returned a probability vector; `probabilities` keeps the whole vector per row (bounded by the
    decoder's width cap) for log loss and Brier score.
    """

    protocol: str
    model: str
    n_rows: int
    features: Columns = field(default_factory=dict)
    predictions: Columns = field(default_factory=dict)
    probabilities: list[tuple[float, ...]] | None = None


class DecodeError(ValueError):
    """A payload that could not be decoded; `reason` is a short label for metrics."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
