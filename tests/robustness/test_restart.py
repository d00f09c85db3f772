"""A real sidecar process: SIGTERM snapshots, a restart restores, logs never hold secrets."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
from robust_tools import SidecarSubprocess
from servers import ThreadedUvicorn

from sidecar.persistence import DEFAULT_FILE_NAME

TOKEN = "admin-token-c2VjcmV0"
SECRETS = ("Bearer auth-c2VjcmV0", "session=cookie-c2VjcmV0", "body-c2VjcmV0", TOKEN)


def _start(upstream: ThreadedUvicorn, state: Path, log: Path) -> SidecarSubprocess:
    config = state.parent / "sidecar.yaml"
    config.write_text("redact: [note]\n")
    process = SidecarSubprocess(
        upstream.url,
        log,
        *("--state-dir", str(state), "--sample-rate", "1", "--window-seconds", "3600"),
        *("--log-format", "json", "--log-level", "debug", "--config", str(config)),
        *("--admin-token", TOKEN, "--admin-host", "127.0.0.1"),
    )
    process.wait_ready()
    return process


def _predict(process: SidecarSubprocess, ids: range) -> None:
    with httpx.Client() as client:
        for i in ids:
            response = client.post(
                process.url + "/v1/models/m:predict",
                json={"instances": [{"x0": float(i % 3) - 1, "note": "body-c2VjcmV0"}]},
                headers={
                    "x-request-id": f"rid-{i}",
                    "authorization": "Bearer auth-c2VjcmV0",
                    "cookie": "session=cookie-c2VjcmV0",
                },
            )
            assert response.status_code == 200


def _rows_seen(process: SidecarSubprocess, expected: int) -> dict[str, object]:
    """The rolling drift report once `expected` rows were analysed (or the last one seen)."""
    deadline = time.monotonic() + 20
    while True:
        report: dict[str, object] = httpx.get(
            process.admin_url + "/api/v1/drift?window=rolling"
        ).json()
        features = report.get("features")
        if isinstance(features, dict) and features.get("x0", {}).get("count") == expected:
            return report
        if time.monotonic() > deadline:
            return report
        time.sleep(0.1)


def _wait_in_flight(process: SidecarSubprocess, count: int) -> None:
    """Block until the proxy holds `count` requests in flight (its active-requests gauge)."""
    deadline = time.monotonic() + 20
    sample = 'http_server_active_requests{http_request_method="POST"}'
    while time.monotonic() < deadline:
        for line in httpx.get(process.admin_url + "/metrics").text.splitlines():
            if line.startswith(sample) and float(line.split()[-1]) >= count:
                return
        time.sleep(0.05)
    raise AssertionError(f"{count} requests never were in flight at once")


def _label(process: SidecarSubprocess, ids: range, token: str = TOKEN) -> httpx.Response:
    body = [{"request_id": f"rid-{i}", "label": 1} for i in ids]
    return httpx.post(
        process.admin_url + "/api/v1/feedback",
        json=body,
        headers={"authorization": f"Bearer {token}"},
    )


class TestRestart:
    def test_sigterm_snapshot_restart_restores_windows_and_joins_labels(
        self, upstream: ThreadedUvicorn, tmp_path: Path
    ) -> None:
        """After SIGTERM and a restart, windows hold old rows and old predictions take labels."""
        state, log = tmp_path / "state", tmp_path / "sidecar.log"
        first = _start(upstream, state, log)
        try:
            _predict(first, range(20))
            before = _rows_seen(first, 20)
            assert _label(first, range(10)).json()["matched"] == 10
        finally:
            assert first.stop() == 0
        assert (state / DEFAULT_FILE_NAME).exists()
        second = _start(upstream, state, log)
        try:
            after = _rows_seen(second, 20)
            labelled = _label(second, range(10, 20)).json()
            again = _label(second, range(1)).json()
            _predict(second, range(20, 25))
            continued = _rows_seen(second, 25)
        finally:
            assert second.stop() == 0
        assert after["features"] == before["features"]
        assert "note" not in after["features"]  # type: ignore[operator]
        assert labelled["matched"] == 10 and labelled["unknown"] == 0
        assert again["duplicate"] == 1
        assert continued["features"]["x0"]["count"] == 25  # type: ignore[index]
        assert "restored state from" in log.read_text()

    def test_requests_answered_during_the_drain_are_in_the_snapshot(
        self, upstream: ThreadedUvicorn, tmp_path: Path
    ) -> None:
        """SIGTERM with 20 slow requests in flight: all are answered, analysed and restored."""
        state, log = tmp_path / "state", tmp_path / "sidecar.log"
        first = _start(upstream, state, log)
        answers: list[int] = []

        def slow(i: int) -> None:
            response = httpx.post(
                first.url + "/v1/models/m:predict?delay=1.5",
                json={"instances": [{"x0": 1.0}]},
                headers={"x-request-id": f"slow-{i}"},
                timeout=30,
            )
            answers.append(response.status_code)

        threads = [threading.Thread(target=slow, args=(i,)) for i in range(20)]
        for thread in threads:
            thread.start()
        _wait_in_flight(first, 20)
        assert first.stop() == 0
        for thread in threads:
            thread.join()
        assert answers == [200] * 20
        second = _start(upstream, state, log)
        try:
            restored = _rows_seen(second, 20)
            labels = [{"request_id": f"slow-{i}", "label": 1} for i in range(20)]
            joined = httpx.post(
                second.admin_url + "/api/v1/feedback",
                json=labels,
                headers={"authorization": f"Bearer {TOKEN}"},
            ).json()
        finally:
            assert second.stop() == 0
        assert restored["features"]["x0"]["count"] == 20  # type: ignore[index]
        assert joined["matched"] == 20 and joined["unknown"] == 0

    def test_logs_are_json_lines_without_bodies_or_credentials(
        self, upstream: ThreadedUvicorn, tmp_path: Path
    ) -> None:
        """At debug level, no log line holds a body, an Authorization/Cookie value or the token."""
        state, log = tmp_path / "state", tmp_path / "sidecar.log"
        process = _start(upstream, state, log)
        try:
            _predict(process, range(5))
            _rows_seen(process, 5)
            assert _label(process, range(2), token="wrong").status_code == 401
            assert _label(process, range(2)).status_code == 200
        finally:
            process.stop()
        text = log.read_text()
        lines = [json.loads(line) for line in text.splitlines() if line.strip()]
        assert lines and all({"time", "level", "logger", "message"} <= set(e) for e in lines)
        for secret in (*SECRETS, "c2VjcmV0"):
            assert secret not in text

    def test_a_corrupt_snapshot_is_moved_aside_and_the_sidecar_proxies(
        self, upstream: ThreadedUvicorn, tmp_path: Path
    ) -> None:
        """Garbage in the state file: the process starts, says so, renames it and serves."""
        state, log = tmp_path / "state", tmp_path / "sidecar.log"
        state.mkdir()
        (state / DEFAULT_FILE_NAME).write_bytes(b"\x1f\x8b garbage")
        process = _start(upstream, state, log)
        try:
            _predict(process, range(3))
        finally:
            assert process.stop() == 0
        assert [p.name.split(".corrupt-")[0] for p in state.glob("*.corrupt-*")] == [
            DEFAULT_FILE_NAME
        ]
        assert "unusable" in log.read_text() and (state / DEFAULT_FILE_NAME).exists()
