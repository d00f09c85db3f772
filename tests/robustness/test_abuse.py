"""Abuse of the admin API and of the decoders: right status codes, bounded state, no crash."""

from __future__ import annotations

import json
import math
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from memory_sources import pair
from robust_tools import exchange
from servers import SidecarHandle, ThreadedUvicorn, running_sidecar

from sidecar.admin import MAX_FEEDBACK_BYTES, MAX_REFERENCE_BYTES
from sidecar.decoders.base import DEFAULT_MAX_FEATURES
from sidecar.monitor import Monitor, MonitorOptions
from sidecar.outcomes.feedback import DEFAULT_MAX_ITEMS
from sidecar.persistence import StateStore
from sidecar.records import Captured

TOKEN = "t0ken-for-tests"
NOW = 1_700_000_000.0


@pytest.fixture(scope="module")
def guarded(upstream: ThreadedUvicorn) -> Iterator[SidecarHandle]:
    """A sidecar with an admin token, sampling everything."""
    with running_sidecar(upstream.url, admin_token=TOKEN, sample_rate=1) as handle:
        yield handle


def _post(handle: SidecarHandle, body: bytes, token: str | None = TOKEN) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return httpx.post(handle.admin_url + "/api/v1/feedback", content=body, headers=headers)


def _totals(handle: SidecarHandle) -> dict[str, int]:
    totals: dict[str, int] = handle.runtime.monitor.counters().feedback.to_json()
    return totals


def _holds(monitor: Monitor, request_id: str) -> bool:
    return monitor.holds(request_id)


class TestFeedbackAbuse:
    @pytest.mark.parametrize("token", [None, "wrong", TOKEN + "x", "Bearer"])
    def test_missing_or_wrong_token_is_401_and_changes_nothing(
        self, guarded: SidecarHandle, token: str | None
    ) -> None:
        """Without the right bearer token, feedback and reference uploads are refused."""
        before = _totals(guarded)
        body = json.dumps({"request_id": "x", "label": 1}).encode()
        assert _post(guarded, body, token).status_code == 401
        headers = {} if token is None else {"authorization": f"Bearer {token}"}
        put = httpx.put(guarded.admin_url + "/api/v1/reference", content=b"{}", headers=headers)
        assert put.status_code == 401
        assert _totals(guarded) == before and guarded.runtime.monitor.reference is None

    def test_too_many_items_or_bytes_is_413(self, guarded: SidecarHandle) -> None:
        """A batch over the item limit and a body over the byte limit both get 413."""
        items = [{"request_id": str(i), "label": 0} for i in range(DEFAULT_MAX_ITEMS + 1)]
        assert _post(guarded, json.dumps(items).encode()).status_code == 413
        huge = b"[" + b" " * MAX_FEEDBACK_BYTES + b"]"
        assert _post(guarded, huge).status_code == 413
        assert _totals(guarded)["matched"] == 0

    def test_declared_oversized_reference_is_413_before_the_body(
        self, guarded: SidecarHandle
    ) -> None:
        """A Content-Length over the reference limit is refused without reading the body."""
        port = int(guarded.admin_url.rsplit(":", 1)[1])
        raw = (
            f"PUT /api/v1/reference HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Length: {MAX_REFERENCE_BYTES + 1}\r\nConnection: close\r\n\r\n"
        ).encode()
        assert exchange(port, raw).startswith(b"HTTP/1.1 413 ")

    @pytest.mark.parametrize(
        "body",
        [b"{", b"not json", b"\xff\xfe", b"42", b'"text"', b"null", b'{"label": 1}', b""],
    )
    def test_malformed_bodies_are_400(self, guarded: SidecarHandle, body: bytes) -> None:
        """Bodies that are not feedback JSON get 400 with a JSON error."""
        response = _post(guarded, body)
        assert response.status_code == 400 and response.json()["error"] == "invalid_feedback"

    @pytest.mark.parametrize("path", ["/api/v1/feedback", "/api/v1/reference"])
    def test_deeply_nested_json_is_400_with_a_reason(
        self, guarded: SidecarHandle, path: str
    ) -> None:
        """A body of a million '[' answers 400 naming the nesting, not 500."""
        headers = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
        method = "POST" if path.endswith("feedback") else "PUT"
        response = httpx.request(
            method, guarded.admin_url + path, content=b"[" * 1_000_000, headers=headers
        )
        assert response.status_code == 400
        assert "nested too deeply" in response.json()["detail"]

    @pytest.mark.parametrize("body", [b"[]", b'{"features": 5}', b'{"format": "x"}', b"{"])
    def test_malformed_references_are_400(self, guarded: SidecarHandle, body: bytes) -> None:
        """A reference body that is not a profile answers 400 and leaves the reference as it was."""
        response = httpx.put(
            guarded.admin_url + "/api/v1/reference",
            content=body,
            headers={"authorization": f"Bearer {TOKEN}"},
        )
        assert response.status_code == 400 and response.json()["error"] == "invalid_reference"
        assert guarded.runtime.monitor.reference is None

    @pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer"])
    def test_the_bearer_scheme_is_case_insensitive(
        self, guarded: SidecarHandle, scheme: str
    ) -> None:
        """RFC 9110 11.1: the scheme matches in any case; the token itself must match exactly."""
        body = json.dumps({"request_id": "nobody", "label": 1}).encode()
        headers = {"authorization": f"{scheme} {TOKEN}", "content-type": "application/json"}
        url = guarded.admin_url + "/api/v1/feedback"
        assert httpx.post(url, content=body, headers=headers).status_code == 200
        headers["authorization"] = f"{scheme} {TOKEN.upper()}"
        assert httpx.post(url, content=body, headers=headers).status_code == 401
        headers["authorization"] = f"Basic {TOKEN}"
        assert httpx.post(url, content=body, headers=headers).status_code == 401

    def test_unknown_ids_are_counted_and_known_ones_still_join(
        self, guarded: SidecarHandle
    ) -> None:
        """Unknown and malformed items are counted; the state still joins real predictions."""
        response = httpx.post(
            guarded.url + "/v1/models/m:predict",
            json={"instances": [{"x0": 1.0}]},
            headers={"x-request-id": "known-1"},
        )
        assert response.status_code == 200
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not _holds(guarded.runtime.monitor, "known-1"):
            time.sleep(0.05)
        mixed = [
            {"request_id": "nobody", "label": 1},
            {"request_id": 5, "label": 1},
            {"request_id": "known-1", "label": 1},
        ]
        counts = _post(guarded, json.dumps(mixed).encode()).json()
        assert counts == {"matched": 1, "unknown": 1, "duplicate": 0, "invalid": 1}


class TestListeners:
    @pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/api/v1/status"])
    def test_read_only_endpoints_stay_open_without_a_token(
        self, guarded: SidecarHandle, path: str
    ) -> None:
        """Probes and scrapers need no token."""
        assert httpx.get(guarded.admin_url + path).status_code == 200

    @pytest.mark.parametrize(
        ("method", "path"),
        [("GET", "/metrics"), ("GET", "/api/v1/status"), ("PUT", "/api/v1/reference")],
    )
    def test_admin_paths_on_the_proxy_port_go_to_the_upstream(
        self, guarded: SidecarHandle, method: str, path: str
    ) -> None:
        """The proxy port serves only proxied traffic: admin paths are the upstream's 404."""
        response = httpx.request(method, guarded.url + path, content=b"{}")
        assert response.status_code == 404 and b"sidecar" not in response.content
        assert guarded.runtime.monitor.reference is None


KSERVE_V1 = "/v1/models/m:predict"
PATHS = [
    KSERVE_V1,
    "/v2/models/m/infer",
    "/v1/chat/completions",
    "/invocations",
    "/predict",
]
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner, max_size=6)
    ),
    max_leaves=40,
)
ROWS = st.lists(
    st.dictionaries(st.sampled_from(["x0", "x1", "c", "n"]), JSON_VALUES, max_size=4), max_size=5
)


def _fuzzed(i: int, path: str, request: bytes, response: bytes) -> Captured:
    return Captured(f"f{i}", "POST", path, "", 200, (), request, response, NOW, 0.01)


def _round_trip(monitor: Monitor, directory: Path) -> None:
    """Saving and restoring the fuzzed state reproduces it exactly."""
    assert StateStore(directory).save(monitor, NOW)
    again = Monitor(monitor.options)
    assert StateStore(directory).restore(again, NOW) is not None
    assert json.dumps(Monitor.plain_state(again.state_dict())) == json.dumps(
        Monitor.plain_state(monitor.state_dict())
    )


class TestFuzzedIngest:
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        st.lists(
            st.tuples(st.sampled_from(PATHS), st.binary(max_size=200), st.binary(max_size=200)),
            max_size=8,
        )
    )
    def test_random_bytes_on_every_route_never_raise(
        self, pairs: list[tuple[str, bytes, bytes]]
    ) -> None:
        """Arbitrary bodies are counted as decode errors or rows; ingest never raises."""
        monitor = Monitor(MonitorOptions(window_seconds=60))
        monitor.ingest([_fuzzed(i, *p) for i, p in enumerate(pairs)], NOW)
        decoded = monitor.counters().analysed
        assert decoded == len(pairs)

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(st.lists(st.tuples(ROWS, st.lists(JSON_VALUES, max_size=5)), min_size=1, max_size=6))
    def test_random_json_rows_fold_in_and_survive_a_snapshot(
        self, batches: list[tuple[list[dict[str, object]], list[object]]]
    ) -> None:
        """Odd JSON values (nested, NaN, huge, mixed types) fold in and round-trip a snapshot."""
        monitor = Monitor(MonitorOptions(window_seconds=60))
        pairs = [pair(f"j{i}", rows, preds, NOW) for i, (rows, preds) in enumerate(batches)]
        monitor.ingest(pairs, NOW)
        monitor.feedback(json.dumps([{"request_id": "j0", "labels": [1] * 5}]).encode(), NOW)
        with tempfile.TemporaryDirectory() as directory:
            _round_trip(monitor, Path(directory))


def _categorical_batch(start: int, count: int) -> Captured:
    rows = [{"c": f"value-{start + i}", "x0": float(i)} for i in range(count)]
    return pair(f"c{start}", rows, [0] * count, NOW)


class TestCardinality:
    def test_distinct_categorical_values_keep_memory_and_snapshot_flat(
        self, tmp_path: Path
    ) -> None:
        """200,000 distinct values take no more memory or snapshot bytes than 20,000 did."""
        monitor = Monitor(MonitorOptions(window_seconds=60))
        monitor.ingest([_categorical_batch(0, 20_000)], NOW)
        found = monitor._model()  # white-box: the model's own stores
        assert found is not None
        small = len(json.dumps(found[1].windows.to_dict()))
        held = found[1].predictions.nbytes()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for start in range(20_000, 200_000, 20_000):
                monitor.ingest([_categorical_batch(start, 20_000)], NOW)
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        # Only the prediction store (bounded by entries and bytes) grows with rows; the windows'
        # sketches are fixed-size whatever the number of distinct values.
        assert grown - (found[1].predictions.nbytes() - held) < 2 * 2**20
        assert len(json.dumps(found[1].windows.to_dict())) < small * 1.5
        assert StateStore(tmp_path).save(monitor, NOW)
        assert found[1].windows.snapshot("current", NOW).features["c"].count == 200_000

    def test_ten_thousand_features_are_capped_at_max_columns(self, tmp_path: Path) -> None:
        """A 10,000-feature payload is capped by the decoder, then by the window's max_columns."""
        monitor = Monitor(MonitorOptions(window_seconds=60, max_columns=256))
        row = {f"f{i}": float(i) for i in range(10_000)}
        monitor.ingest([pair("wide", [row, row], [1, 0], NOW)], NOW)
        found = monitor._model()  # white-box: the model's own stores
        assert found is not None
        window = found[1].windows.snapshot("current", NOW)
        assert len(window.features) + len(window.predictions) == 256
        # The decoder keeps DEFAULT_MAX_FEATURES columns; the window tracks 256 of those + 1.
        assert window.dropped_columns == DEFAULT_MAX_FEATURES + 1 - 256
        assert StateStore(tmp_path).save(monitor, NOW)
        assert math.isfinite(StateStore(tmp_path).path.stat().st_size)
