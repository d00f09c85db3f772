"""State snapshots: restarts keep windows and pending predictions; bad snapshots never block."""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import numpy as np
import pytest
from memory_sources import pair

from sidecar.monitor import Monitor, MonitorOptions
from sidecar.persistence import DEFAULT_FILE_NAME, FORMAT_NAME, StateStore
from sidecar.reference.builder import ProfileBuilder
from sidecar.reference.profile import ReferenceProfile

NOW = 1_700_000_100.0


def _reference(seed: int) -> ReferenceProfile:
    rng = np.random.default_rng(seed)
    builder = ProfileBuilder(max_rows=500)
    colours = ["red", "green", "blue"]
    builder.add_live(
        {
            "x0": [float(v) for v in rng.normal(seed, 1, 500)],
            "colour": [colours[i % 3] for i in range(500)],
        },
        {"prediction": [float(i % 2) for i in range(500)]},
        500,
    )
    return builder.build()


def _traffic(monitor: Monitor, count: int, now: float, prefix: str = "r") -> None:
    rng = np.random.default_rng(len(prefix) + count)
    batch = []
    for i in range(count):
        x0 = float(rng.normal())
        batch.append(pair(f"{prefix}{i}", [{"x0": x0, "colour": "red"}], [int(x0 > 0)], now))
    monitor.ingest(batch, now)


def _started(monitor: Monitor, directory: Path) -> StateStore:
    """A store that restored (nothing) into `monitor`, as the runtime does at start."""
    store = StateStore(directory)
    store.restore(monitor, NOW)
    return store


def _labels(ids: list[str]) -> bytes:
    return json.dumps([{"request_id": i, "label": 1} for i in ids]).encode()


def _plain(monitor: Monitor) -> object:
    return json.loads(json.dumps(Monitor.plain_state(monitor.state_dict())))


class TestRoundTrip:
    def test_restore_brings_back_windows_outcomes_predictions_and_totals(
        self, tmp_path: Path
    ) -> None:
        """A restored monitor holds exactly the state the saved one had."""
        before = Monitor(MonitorOptions(window_seconds=60), reference=_reference(0))
        _traffic(before, 40, NOW)
        before.ingest([pair("bad", [], [], NOW)], NOW)
        before.feedback(_labels(["r0", "r1", "nobody"]), NOW)
        assert StateStore(tmp_path).save(before, NOW)
        after = Monitor(MonitorOptions(window_seconds=60), reference=_reference(0))
        restored = StateStore(tmp_path).restore(after, NOW + 5)
        assert restored is not None and restored.models == 1 and restored.windows == 1
        assert _plain(after) == _plain(before)
        assert after.reference == before.reference

    def test_labels_after_a_restart_join_predictions_made_before_it(self, tmp_path: Path) -> None:
        """Feedback posted to the restarted monitor matches every prediction held before."""
        before = Monitor(MonitorOptions(window_seconds=60))
        _traffic(before, 30, NOW)
        StateStore(tmp_path).save(before, NOW)
        after = Monitor(MonitorOptions(window_seconds=60))
        StateStore(tmp_path).restore(after, NOW + 30)
        result = after.feedback(_labels([f"r{i}" for i in range(30)]), NOW + 31)
        assert result.matched == 30 and result.unknown == 0
        found = after._model()  # white-box: the restored state itself
        assert found is not None
        assert found[1].outcomes.snapshot("current", NOW).performance.labelled_rows == 30

    def test_windows_continue_counting_after_a_restart(self, tmp_path: Path) -> None:
        """Rows after the restart add to the window the rows before it opened."""
        before = Monitor(MonitorOptions(window_seconds=60))
        _traffic(before, 10, NOW)
        StateStore(tmp_path).save(before, NOW)
        after = Monitor(MonitorOptions(window_seconds=60))
        StateStore(tmp_path).restore(after, NOW + 1)
        _traffic(after, 15, NOW + 2, prefix="s")
        found = after._model()  # white-box: the restored state itself
        assert found is not None
        assert found[1].windows.snapshot("current", NOW + 2).rows == 25
        assert found[1].requests == 25

    def test_a_reference_replaced_at_runtime_survives_the_restart(self, tmp_path: Path) -> None:
        """With the same configured reference, the one PUT at runtime is restored."""
        before = Monitor(MonitorOptions(window_seconds=60), reference=_reference(0))
        store = _started(before, tmp_path)
        before.set_reference(_reference(5))
        _traffic(before, 10, NOW)
        store.save(before, NOW)
        after = Monitor(MonitorOptions(window_seconds=60), reference=_reference(0))
        StateStore(tmp_path).restore(after, NOW + 1)
        assert after.reference == _reference(5)
        found = after._model()  # white-box: the restored state itself
        assert found is not None and "x0" in found[1].windows.snapshot("current", NOW).features

    def test_a_changed_configured_reference_wins_and_sketches_restart(self, tmp_path: Path) -> None:
        """A new --reference replaces the saved one; windows keep counts, restart distributions."""
        before = Monitor(MonitorOptions(window_seconds=60), reference=_reference(0))
        _traffic(before, 10, NOW)
        StateStore(tmp_path).save(before, NOW)
        after = Monitor(MonitorOptions(window_seconds=60), reference=_reference(9))
        StateStore(tmp_path).restore(after, NOW + 1)
        assert after.reference == _reference(9)
        found = after._model()  # white-box: the restored state itself
        assert found is not None
        window = found[1].windows.snapshot("current", NOW)
        assert window.rows == 10 and window.features["x0"].quality.present == 10
        assert window.features["x0"].count == 0

    def test_a_finished_bootstrap_is_not_repeated(self, tmp_path: Path) -> None:
        """A reference bootstrapped before the restart is kept and no new bootstrap starts."""
        before = Monitor(MonitorOptions(window_seconds=60), bootstrap=True)
        store = _started(before, tmp_path)
        before.set_reference(_reference(1))  # stands for a finished bootstrap
        store.save(before, NOW)
        after = Monitor(MonitorOptions(window_seconds=60), bootstrap=True)
        StateStore(tmp_path).restore(after, NOW)
        assert after.reference == _reference(1) and after.bootstrap is None

    def test_save_replaces_atomically_and_restore_clears_leftover_temporaries(
        self, tmp_path: Path
    ) -> None:
        """Only the snapshot remains after saves; a crash's temporary file is removed at start."""
        monitor = Monitor()
        store = StateStore(tmp_path)
        for step in range(3):
            _traffic(monitor, 2, NOW + step, prefix=f"p{step}-")
            assert store.save(monitor, NOW + step)
        assert [p.name for p in tmp_path.iterdir()] == [DEFAULT_FILE_NAME]
        (tmp_path / f"{DEFAULT_FILE_NAME}.tmp-999").write_bytes(b"half a snapsh")
        assert StateStore(tmp_path).restore(Monitor(), NOW) is not None
        assert [p.name for p in tmp_path.iterdir()] == [DEFAULT_FILE_NAME]


def _valid_snapshot(tmp_path: Path) -> dict[str, object]:
    monitor = Monitor(MonitorOptions(window_seconds=60))
    _traffic(monitor, 3, NOW)
    StateStore(tmp_path).save(monitor, NOW)
    data: dict[str, object] = json.loads(
        gzip.decompress((tmp_path / DEFAULT_FILE_NAME).read_bytes())
    )
    return data


def _broken(kind: str, tmp_path: Path) -> bytes:
    data = _valid_snapshot(tmp_path)
    if kind == "garbage":
        return b"\x00not a snapshot\xff"
    if kind == "truncated":
        return gzip.compress(json.dumps(data).encode())[:100]
    if kind == "not-json":
        return gzip.compress(b"{'models': ")
    if kind == "a-list":
        return gzip.compress(b"[1, 2]")
    if kind == "other-format":
        data["format"] = "something-else"
    elif kind == "newer-version":
        data["version"] = 3
    elif kind == "other-window-length":
        data["window_seconds"] = 300.0
    elif kind == "malformed-model":
        data["models"] = {"default": {"windows": {"windows": "x"}}}
    elif kind == "models-not-a-mapping":
        data["models"] = [1]
    return gzip.compress(json.dumps(data).encode())


BROKEN = [
    "garbage",
    "truncated",
    "not-json",
    "a-list",
    "other-format",
    "newer-version",
    "other-window-length",
    "malformed-model",
    "models-not-a-mapping",
]


class TestUnusableSnapshots:
    @pytest.mark.parametrize("kind", BROKEN)
    def test_is_moved_aside_with_a_log_line_and_the_monitor_starts_fresh(
        self, kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A corrupt or incompatible snapshot is renamed *.corrupt-<time>; the state is empty."""
        (tmp_path / DEFAULT_FILE_NAME).write_bytes(_broken(kind, tmp_path))
        monitor = Monitor(MonitorOptions(window_seconds=60))
        with caplog.at_level(logging.WARNING, logger="sidecar.persistence"):
            assert StateStore(tmp_path).restore(monitor, NOW) is None
        counters = monitor.counters()
        assert counters.models == () and counters.feedback.total == 0
        names = sorted(p.name for p in tmp_path.iterdir())
        assert names == [f"{DEFAULT_FILE_NAME}.corrupt-20231114T221500Z"]
        assert any(
            "unusable" in r.getMessage() and "moved to" in r.getMessage() for r in caplog.records
        )
        _traffic(monitor, 2, NOW)
        assert StateStore(tmp_path).save(monitor, NOW)

    def test_no_snapshot_starts_fresh_and_save_creates_the_directory(self, tmp_path: Path) -> None:
        """A missing directory is no error; the first save creates it."""
        store = StateStore(tmp_path / "new" / "dir")
        monitor = Monitor()
        assert store.restore(monitor, NOW) is None
        _traffic(monitor, 1, NOW)
        assert store.save(monitor, NOW) and store.path.exists()

    def test_an_unwritable_directory_fails_the_save_without_raising(self, tmp_path: Path) -> None:
        """Saving into a path that is a file returns False and raises nothing."""
        blocker = tmp_path / "file"
        blocker.write_text("x")
        assert StateStore(blocker).save(Monitor(), NOW) is False

    def test_format_name_and_version_are_written(self, tmp_path: Path) -> None:
        """The snapshot names its format and version."""
        data = _valid_snapshot(tmp_path)
        assert data["format"] == FORMAT_NAME and data["version"] == 2
