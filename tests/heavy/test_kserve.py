"""A real v2 server that accepts binary tensors (KServe's `ModelServer`) and Triton's own client.

KServe and `tritonclient[http]` live in their own virtual environment (`.kserve/`, made by
`make kserve`; or set SIDECAR_KSERVE_VENV) so their dependencies never move the sidecar's. The
server (`kserve_server.py`) serves model `clf` with declared metadata; the client
(`triton_client.py`) sends the same rows through the sidecar once as JSON and once as binary
tensors with binary outputs. The sidecar's recorded pairs must decode to the same rows, names
and values both ways, equal to what the client sent, with no decode error, and the real
metadata endpoint must decide which output is the prediction.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from servers import free_port, running_sidecar, stop_process

from sidecar.decoders import DecodeOptions, decode_pair
from sidecar.decoders.binary_tensors import decode_elements, header_length
from sidecar.records import Captured, Decoded

pytestmark = pytest.mark.heavy

HERE = Path(__file__).parent
VENV = Path(os.environ.get("SIDECAR_KSERVE_VENV", HERE.parents[1] / ".kserve"))
ROWS = 25


def _require_venv() -> Path:
    """The KServe virtualenv's python; skip without it (fail in CI, which must make it)."""
    python = VENV / "bin" / "python"
    if not python.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"KServe virtualenv missing at {VENV}: .ci/run must run `make kserve`")
        pytest.skip(f"no KServe virtualenv at {VENV} (make kserve)")
    return python


@pytest.fixture(scope="module")
def kserve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """KServe's ModelServer serving model `clf` on 127.0.0.1."""
    python = _require_venv()
    folder = tmp_path_factory.mktemp("kserve")
    port = free_port()
    log = (folder / "kserve.log").open("wb")
    proc = subprocess.Popen(
        [str(python), str(HERE / "kserve_server.py"), str(port)],
        cwd=folder,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(url + "/v2/models/clf/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("KServe did not become ready: " + (folder / "kserve.log").read_text())
        yield url
    finally:
        stop_process(proc)
        log.close()


def _client(url: str) -> dict[str, Any]:
    """Run Triton's client against `url`; what it sent and received, per mode."""
    done = subprocess.run(
        [str(VENV / "bin" / "python"), str(HERE / "triton_client.py"), url, str(ROWS)],
        capture_output=True,
        check=True,
        timeout=120,
        text=True,
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def through_sidecar(kserve: str) -> Iterator[tuple[dict[str, Any], dict[str, Captured], Any]]:
    """The client's report, the sidecar's captured pairs by request id, and its runtime."""
    with running_sidecar(kserve) as sc:
        runtime = sc.runtime
        pairs: dict[str, Captured] = {}
        ingest = runtime.worker.sink

        def record(batch: Sequence[Captured], now: float) -> None:
            pairs.update((pair.request_id, pair) for pair in batch)
            ingest(batch, now)

        runtime.worker.sink = record
        report = _client(sc.url.removeprefix("http://"))
        assert runtime.worker.wait_idle(20)
        yield report, pairs, runtime


def _decoded(pair: Captured, runtime: Any) -> Decoded:
    return decode_pair(pair, DecodeOptions(), metadata=runtime.model_metadata)


class TestBinaryAndJsonAgree:
    def test_both_modes_decode_without_error(self, through_sidecar: Any) -> None:
        """Binary requests and binary responses from the real pair count no decode error."""
        report, pairs, runtime = through_sidecar
        assert set(pairs) == {"json", "binary"}
        binary = pairs["binary"]
        assert header_length(binary.request_headers) is not None
        assert header_length(binary.response_headers) is not None
        assert header_length(pairs["json"].request_headers) is None
        assert all(pairs[mode].status == 200 for mode in pairs)
        assert runtime.monitor.counters().decode_errors == {}
        assert runtime.monitor.counters().rows["clf"] == 2 * ROWS
        assert report["binary"]["proba"] == report["json"]["proba"]

    def test_same_rows_names_and_values_both_ways(self, through_sidecar: Any) -> None:
        """JSON and binary decode to the same columns, equal to what the client sent; the
        FP16 input that only binary can carry decodes too."""
        report, pairs, runtime = through_sidecar
        as_json, as_binary = _decoded(pairs["json"], runtime), _decoded(pairs["binary"], runtime)
        assert as_json.n_rows == as_binary.n_rows == ROWS
        assert set(as_binary.features) == {*as_json.features, "half"}
        assert {k: as_binary.features[k] for k in as_json.features} == as_json.features
        assert as_json.predictions == as_binary.predictions
        sent = report["binary"]["sent"]
        x = np.array(sent["x"])
        assert as_binary.features["x.0"] == x[:, 0].tolist()
        assert as_binary.features["x.2"] == x[:, 2].tolist()
        assert as_binary.features["count"] == [float(v) for v in sent["count"]]
        assert as_binary.features["flag"] == ["true" if v else "false" for v in sent["flag"]]
        assert as_binary.features["tag"] == sent["tag"]
        assert as_binary.features["half"] == sent["half"]

    def test_metadata_names_the_prediction(self, through_sidecar: Any) -> None:
        """The server answers `label` first, but its metadata declares `proba` first: with the
        real metadata endpoint the prediction is the argmax of `proba`; without it, `label`."""
        report, pairs, runtime = through_sidecar
        assert report["binary"]["order"] == ["label", "proba"]
        proba = np.array(report["binary"]["proba"])
        decoded = _decoded(pairs["binary"], runtime)
        assert decoded.predictions["prediction"] == proba.argmax(axis=1).astype(str).tolist()
        assert decoded.predictions["probability"] == pytest.approx(proba.max(axis=1).tolist())
        assert decoded.predictions["label"] == report["binary"]["label"]
        bare = decode_pair(pairs["binary"], DecodeOptions())
        assert bare.predictions["prediction"] == report["binary"]["label"]
        assert +runtime.model_metadata.fetches == {"ok": 1}


class TestTritonEncoding:
    def test_every_datatype_as_tritonclient_encodes_it(self) -> None:
        """The bytes tritonclient sends for each of the 14 datatypes decode to its values."""
        done = subprocess.run(
            [str(_require_venv()), str(HERE / "triton_encode.py")],
            capture_output=True,
            check=True,
            timeout=120,
            text=True,
        )
        encoded = json.loads(done.stdout)
        assert len(encoded) == 14
        for datatype, case in encoded.items():
            raw = bytes.fromhex(case["raw"])
            assert case["size"] == len(raw), datatype
            count = int(np.prod(case["shape"]))
            values = decode_elements(datatype, count, raw, "t")
            got = values.tolist() if isinstance(values, np.ndarray) else values
            assert got == case["values"], datatype


class TestControlPlanePassesThrough:
    def test_repository_health_and_metadata_are_not_analysed(self, kserve: str) -> None:
        """Repository, health and metadata calls reach KServe unchanged and are not sampled."""
        calls = [
            ("POST", "/v2/repository/models/clf/load"),
            ("GET", "/v2/health/ready"),
            ("GET", "/v2/models/clf"),
            ("GET", "/v2/models/clf/ready"),
        ]
        with running_sidecar(kserve) as sc:
            for method, path in calls:
                direct = httpx.request(method, kserve + path)
                proxied = httpx.request(method, sc.url + path)
                assert (proxied.status_code, proxied.content) == (
                    direct.status_code,
                    direct.content,
                ), path
            assert sc.runtime.capture.seen == 0
            assert sc.runtime.monitor.counters().decode_errors == {}
