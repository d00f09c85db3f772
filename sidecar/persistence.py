"""State snapshots in --state-dir: atomic, versioned, restored at start.

One file, `DEFAULT_FILE_NAME` (gzip-compressed JSON, level 1), holds the format name and version,
the time it was saved, the window settings, the reference in use (and a fingerprint of the
reference the saving process was configured with), decode error counts, feedback totals and per
model the window sketches, outcome windows and the prediction store of pending labels, and the
page's history of window summaries (`sidecar.history`, its own version inside; optional, so a
snapshot written before it existed restores with an empty history, and a history that cannot be
read is dropped with one warning while the rest restores). Raw payloads are never part of it;
the prediction store keeps only decoded predictions, probabilities and group values. An
unfinished reference bootstrap is not saved (it restarts).

Writes are atomic: a temporary file in the same directory is written, fsynced and renamed over
the snapshot, then the directory is fsynced, so a crash leaves the old or the new snapshot,
never a torn one. The state is copied at one moment by `Monitor.state_dict` (under the monitor's
own lock) and serialised outside it. A snapshot that cannot be read, is of another format or
version, or does not fit the current window settings is moved aside to
`<name>.corrupt-<UTC time>` with one warning line and the sidecar starts fresh: its own state
never stops it from proxying.

Size bound: the state's own bounds. Per model at the defaults, window sketches at most
~17 MiB of JSON before compression ((12 windows + 22 buckets) x 256 columns), outcome windows at
most 288 x ~40 kB, and the prediction store ~90 bytes of JSON per pending one-row prediction
(1 million entries: ~90 MB, ~25 MB compressed); at most 16 models; the history at most ~1.2 MB
of JSON per model.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sidecar.reference.profile import ReferenceProfile

if TYPE_CHECKING:
    from sidecar.history import History
    from sidecar.monitor import Monitor

log = logging.getLogger("sidecar.persistence")

DEFAULT_FILE_NAME = "sidecar-state.json.gz"
FORMAT_NAME = "model-sidecar-state"
FORMAT_VERSION = 2
SUPPORTED_VERSIONS = (1, 2)
"""Version 2 adds the sliding-window buckets; a version 1 snapshot restores its tumbling windows."""
COMPRESS_LEVEL = 1  # level 1 is ~5x faster than the default 9 and within ~15% of its size


class SnapshotError(ValueError):
    """A snapshot that cannot be used: unreadable, another format or version, or inconsistent."""


@dataclass(frozen=True)
class Restored:
    """What a restore brought back."""

    path: Path
    saved_at: float
    models: int
    windows: int
    predictions: int
    """Prediction store entries: awaiting a label, or labelled (kept to spot duplicates)."""
    summaries: int = 0
    """Window summaries of the page's history, all models together."""


class StateStore:
    """Snapshots the monitor into a directory and restores it."""

    def __init__(
        self,
        directory: str | Path,
        file_name: str = DEFAULT_FILE_NAME,
        history: History | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.history = history
        self.path = self.directory / file_name
        self.restored: Restored | None = None
        self._configured: str | None = None
        self._saving = threading.Lock()

    def restore(self, monitor: Monitor, now: float) -> Restored | None:
        """Load the last snapshot into `monitor`, if there is a usable one; never raises."""
        self._configured = _fingerprint(monitor)
        self._remove_temporaries()
        if not self.path.exists():
            log.info("no state snapshot at %s: starting fresh", self.path)
            return None
        try:
            data = self._read()
            restored = self._load(monitor, data, now)
        except Exception as exc:  # any unusable snapshot: set aside, never refuse to start
            self._move_aside(exc, now)
            return None
        self.restored = restored
        log.info(
            "restored state from %s saved %.0f s ago: %d models, %d windows, "
            "%d prediction store entries",
            self.path,
            max(0.0, now - restored.saved_at),
            restored.models,
            restored.windows,
            restored.predictions,
        )
        return restored

    def save(self, monitor: Monitor, now: float) -> bool:
        """Write a snapshot of `monitor` atomically; False (and a log line) when it failed."""
        started = time.perf_counter()
        try:
            data = self._snapshot(monitor, now)
            monitor.plain_state(data)
            if self.history is not None:
                data["history"] = self.history.to_dict()
            encoded = gzip.compress(json.dumps(data).encode(), COMPRESS_LEVEL, mtime=0)
            with self._saving:
                self._write(encoded)
        except Exception:  # a failed snapshot never stops the sidecar
            log.exception("state snapshot to %s failed", self.path)
            return False
        log.debug(
            "state snapshot: %d models, %d bytes in %.3f s",
            len(data["models"]),
            len(encoded),
            time.perf_counter() - started,
        )
        return True

    def _snapshot(self, monitor: Monitor, now: float) -> dict[str, Any]:
        state = monitor.state_dict()
        if state.pop("bootstrapping"):
            log.debug("reference bootstrap in progress: not saved, it restarts after a restart")
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "saved_at": now,
            "window_seconds": monitor.options.window_seconds,
            "rolling_windows": monitor.options.rolling_windows,
            "configured_reference": self._configured or _fingerprint(monitor),
            **state,
        }

    def _write(self, encoded: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f"{self.path.name}.tmp-{os.getpid()}")
        with open(temporary, "wb") as handle:
            handle.write(encoded)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)
        descriptor = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    def _read(self) -> dict[str, Any]:
        try:
            raw = gzip.decompress(self.path.read_bytes())
            data = json.loads(raw)
        except (gzip.BadGzipFile, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SnapshotError(f"not a gzip-compressed JSON snapshot ({exc})") from exc
        if not isinstance(data, dict):
            raise SnapshotError(f"expected a JSON object, got {type(data).__name__}")
        if data.get("format") != FORMAT_NAME:
            raise SnapshotError(f"format {data.get('format')!r} is not {FORMAT_NAME!r}")
        if data.get("version") not in SUPPORTED_VERSIONS:
            raise SnapshotError(
                f"version {data.get('version')!r} is not supported (expected {FORMAT_VERSION})"
            )
        return data

    def _load(self, monitor: Monitor, data: dict[str, Any], now: float) -> Restored:
        options = monitor.options
        saved = (float(data["window_seconds"]), int(data["rolling_windows"]))
        if saved != (float(options.window_seconds), options.rolling_windows):
            raise SnapshotError(
                f"window settings {saved} differ from the configured "
                f"({options.window_seconds}, {options.rolling_windows})"
            )
        raw_reference = data["reference"]
        sketched_on = None if raw_reference is None else ReferenceProfile.from_dict(raw_reference)
        reference = sketched_on
        if data["configured_reference"] != self._configured:
            # The operator changed --reference since the snapshot: the configuration wins.
            log.warning(
                "the configured reference changed since the snapshot: using the configured one; "
                "restored windows keep their counts and restart their distributions"
            )
            reference = monitor.reference
        models, predictions = monitor.load_state(data, sketched_on, reference, now)
        restored = Restored(
            self.path,
            float(data["saved_at"]),
            models,
            sum(_windows_in(m["windows"]) for m in data["models"].values()),
            predictions,
        )
        return replace(restored, summaries=self._restore_history(data))

    def _restore_history(self, data: dict[str, Any]) -> int:
        """Load the saved history, if any; an unusable one is dropped with a warning."""
        if self.history is None or data.get("history") is None:
            return 0
        try:
            self.history.load_dict(data["history"])
        except (ValueError, TypeError) as exc:
            log.warning("history in %s not restored (%.200s); it starts empty", self.path, exc)
            return 0
        return sum(len(self.history.summaries(m)) for m in self.history.models())

    def _move_aside(self, exc: BaseException, now: float) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        reason = f"{type(exc).__name__}: {exc}"
        try:
            os.replace(self.path, target)
        except OSError as move_error:
            log.warning(
                "state snapshot %s is unusable (%.300s) and cannot be moved aside (%s); "
                "starting fresh",
                self.path,
                reason,
                move_error.strerror,
            )
            return
        log.warning(
            "state snapshot %s is unusable (%.300s); moved to %s; starting fresh",
            self.path,
            reason,
            target.name,
        )

    def _remove_temporaries(self) -> None:
        """Drop temporary files a crash mid-write left behind."""
        with contextlib.suppress(OSError):
            for leftover in self.directory.glob(f"{self.path.name}.tmp-*"):
                leftover.unlink()


def _windows_in(store: dict[str, Any]) -> int:
    """Tumbling windows and sliding-window buckets in a saved window store."""
    return len(store["windows"]) + len(store.get("bucket_states", []))


def _fingerprint(monitor: Monitor) -> str:
    """Which reference the process was configured with: none, bootstrap, or a profile's hash."""
    if monitor.reference is not None:
        text = json.dumps(monitor.reference.to_dict(), sort_keys=True)
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    return "bootstrap" if monitor.bootstrap is not None else "none"
