"""The decoder plug-in point: options, the `Decoder` protocol and what decoders receive.

A decoder turns one parsed request/response pair into columns (`Decoded`). Every decoder is
bounded by `DecodeOptions`: at most `max_features` columns per side, rows wider than
`max_width` values are summarised (5 columns) instead of exploded, and nested objects are
flattened at most `max_depth` levels deep, so a decoder never holds more than
`max_features * n_rows` cells whatever the payload.

Error hierarchy (only one type leaves a decoder)::

    ValueError
     +-- sidecar.records.DecodeError(reason, detail)   bad payload, `reason` is a metric label
     +-- ValueError from DecodeOptions(...)            bad configuration, raised at start-up
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sidecar.records import Decoded

DEFAULT_MAX_WIDTH = 64
DEFAULT_MAX_DEPTH = 4
DEFAULT_MAX_FEATURES = 1024
MAX_DEPTH_LIMIT = 16
"""Upper bound for `max_depth`, which keeps flattening recursion shallow."""

_POINTER = re.compile(r"^(/([^~/]|~[01])*)*$")


def check_pointer(pointer: str | None, key: str) -> None:
    """Raise ValueError unless `pointer` is None or a syntactically valid RFC 6901 pointer."""
    if pointer is not None and not _POINTER.match(pointer):
        raise ValueError(f"{key}={pointer!r} is not a JSON pointer (RFC 6901), e.g. '/data/rows'")


@dataclass(frozen=True, slots=True)
class DecodeOptions:
    """How decoders name and bound the columns they produce."""

    feature_names: tuple[str, ...] | None = None
    """Names for positional features (list rows, one [N, k] tensor); default f0..fN."""
    max_width: int = DEFAULT_MAX_WIDTH
    """A list or tensor row wider than this becomes `<name>.mean/.std/.min/.max/.l2`."""
    max_depth: int = DEFAULT_MAX_DEPTH
    """Nested objects flatten to dotted names this deep; deeper values are dropped."""
    max_features: int = DEFAULT_MAX_FEATURES
    """Columns kept per side (features, predictions); further columns are dropped."""
    features_pointer: str | None = None
    """RFC 6901 pointer to the rows in a generic JSON request."""
    predictions_pointer: str | None = None
    """RFC 6901 pointer to the predictions in a generic JSON response."""

    def __post_init__(self) -> None:
        if self.max_width < 1:
            raise ValueError(f"max_width={self.max_width!r} must be at least 1")
        if not 0 <= self.max_depth <= MAX_DEPTH_LIMIT:
            raise ValueError(f"max_depth={self.max_depth!r} must be in [0, {MAX_DEPTH_LIMIT}]")
        if self.max_features < 1:
            raise ValueError(f"max_features={self.max_features!r} must be at least 1")
        if self.feature_names is not None and not all(
            isinstance(name, str) and name for name in self.feature_names
        ):
            raise ValueError(f"feature_names={self.feature_names!r} must be non-empty strings")
        check_pointer(self.features_pointer, "features_pointer")
        check_pointer(self.predictions_pointer, "predictions_pointer")


@dataclass(frozen=True, slots=True)
class DecodedPayload(Decoded):
    """A `Decoded` that also says whether a cap (features, width, depth) dropped columns."""

    truncated: bool = False


@dataclass(frozen=True, slots=True)
class EventStream:
    """A `text/event-stream` response body, parsed: the JSON of each `data:` event."""

    events: Sequence[object]
    """Parsed JSON per event, in order; events whose data was not JSON are left out."""
    done: bool
    """Whether the stream ended with `data: [DONE]`."""
    invalid: int = 0
    """Events whose data was neither JSON nor `[DONE]`."""
    ends: Sequence[int] = ()
    """Byte offset just past each of `events` in the body (for arrival times of chunks)."""


class Decoder(Protocol):
    """One serving protocol: a cheap shape check and a decode into columns."""

    name: str

    def matches(self, path: str, request: object) -> bool:
        """Whether `request` (parsed JSON) sent to `path` looks like this protocol."""
        ...

    def decode(
        self, path: str, request: object, response: object | None, options: DecodeOptions
    ) -> Decoded:
        """Decode the parsed pair; `response` is None (not JSON), JSON or an `EventStream`."""
        ...
