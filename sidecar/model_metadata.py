"""Open Inference model metadata from the upstream, fetched once per model and cached.

`MetadataCache.get` runs in the analysis thread, never on the event loop: the first v2 payload of
a model costs one `GET /v2/models/{name}[/versions/{version}]` of at most `DEFAULT_TIMEOUT`
(1 s) and `DEFAULT_MAX_BYTES` (1 MiB); later payloads read the cache. At most
`DEFAULT_MAX_MODELS` (64) entries are kept (the oldest is evicted). A failed fetch leaves the
payload's own names as they are, is counted in `fetches` by outcome (exported as
`sidecar_model_metadata_fetches_total`), and is retried after `DEFAULT_RETRY_SECONDS` (300 s).
A versioned path whose versioned metadata the server refuses falls back to the model's.
`get` never raises.
"""

from __future__ import annotations

import http.client
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from sidecar.decoders.metadata import ModelMetadata, parse_metadata

log = logging.getLogger("sidecar.metadata")

DEFAULT_TIMEOUT = 1.0
DEFAULT_MAX_MODELS = 64
DEFAULT_RETRY_SECONDS = 300.0
DEFAULT_MAX_BYTES = 1 << 20
OUTCOMES = ("ok", "unavailable", "timeout", "http_error", "invalid")
"""Fetch outcomes, the `outcome` label of the fetch counter (all exported from the start)."""

Fetch = Callable[[str, str | None], ModelMetadata]
"""Fetches one model's metadata or raises `MetadataError`."""


class MetadataError(Exception):
    """A metadata fetch that failed; `outcome` is one of `OUTCOMES`."""

    def __init__(self, outcome: str, detail: str) -> None:
        super().__init__(f"{outcome}: {detail}")
        self.outcome = outcome


@dataclass(frozen=True, slots=True)
class _Entry:
    metadata: ModelMetadata | None
    at: float


def metadata_path(model: str, version: str | None) -> str:
    """The metadata path of a model (and version), percent-encoded."""
    path = f"/v2/models/{quote(model, safe='')}"
    return path if version is None else f"{path}/versions/{quote(version, safe='')}"


class HttpFetch:
    """`GET` of a model's metadata from the upstream with the standard library's client."""

    def __init__(
        self, upstream: str, timeout: float = DEFAULT_TIMEOUT, host_header: str | None = None
    ) -> None:
        parts = urlsplit(upstream)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.https else 80)
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.headers = {"accept": "application/json"}
        if host_header:
            self.headers["host"] = host_header  # as proxied requests have it (virtual hosts)

    def __call__(self, model: str, version: str | None) -> ModelMetadata:
        kind = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        connection = kind(self.host, self.port, timeout=self.timeout)
        path = self.prefix + metadata_path(model, version)
        try:
            connection.request("GET", path, headers=self.headers)
            response = connection.getresponse()
            body = response.read(DEFAULT_MAX_BYTES + 1)
        except TimeoutError as error:
            raise MetadataError("timeout", f"GET {path}: {error}") from None
        except (OSError, http.client.HTTPException) as error:
            raise MetadataError("unavailable", f"GET {path}: {error!r}") from None
        finally:
            connection.close()
        if response.status != 200:
            raise MetadataError("http_error", f"GET {path} answered {response.status}")
        if len(body) > DEFAULT_MAX_BYTES:
            raise MetadataError("invalid", f"GET {path}: more than {DEFAULT_MAX_BYTES} bytes")
        try:
            return parse_metadata(body)
        except ValueError as error:
            raise MetadataError("invalid", f"GET {path}: {error}") from None


class MetadataCache:
    """Model metadata by (name, version), fetched on first use; a `MetadataLookup`."""

    def __init__(
        self,
        fetch: Fetch,
        max_models: int = DEFAULT_MAX_MODELS,
        retry_seconds: float = DEFAULT_RETRY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fetch = fetch
        self.max_models = max_models
        self.retry_seconds = retry_seconds
        self.clock = clock
        # Every outcome present from the start: readers in other threads copy it while it grows.
        self.fetches: Counter[str] = Counter(dict.fromkeys(OUTCOMES, 0))
        self._entries: dict[tuple[str, str | None], _Entry] = {}

    def get(self, model: str, version: str | None) -> ModelMetadata | None:
        """The model's metadata, fetching it when unknown (or when a failure is old enough)."""
        key = (model, version)
        now = self.clock()
        entry = self._entries.get(key)
        if entry is not None and (
            entry.metadata is not None or now - entry.at < self.retry_seconds
        ):
            return entry.metadata
        metadata = self._fetch(model, version)
        self._entries.pop(key, None)
        if len(self._entries) >= self.max_models:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = _Entry(metadata, now)
        return metadata

    def _fetch(self, model: str, version: str | None) -> ModelMetadata | None:
        try:
            try:
                metadata = self.fetch(model, version)
            except MetadataError as error:
                if version is None or error.outcome != "http_error":
                    raise
                # Servers without versioned metadata (KServe answers 501) still know the model.
                metadata = self.fetch(model, None)
        except MetadataError as error:
            self.fetches[error.outcome] += 1
            log.warning("model metadata of %r not available: %s", model, error)
            return None
        except Exception:  # a fetch bug must not stop analysis
            self.fetches["invalid"] += 1
            log.exception("model metadata fetch of %r failed", model)
            return None
        self.fetches["ok"] += 1
        return metadata
