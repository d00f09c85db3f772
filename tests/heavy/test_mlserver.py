"""A real Open Inference Protocol v2 peer: MLServer with a scikit-learn model behind the sidecar.

MLServer pins an older starlette/fastapi than the sidecar, so it lives in its own virtual
environment (`.mlserver/`, made by `.ci/run`; or set SIDECAR_MLSERVER_VENV). The test trains a
small iris classifier there (scikit-learn ships the data set), serves it with `mlserver start`,
and checks that the sidecar forwards MLServer's answers unchanged and decodes its payloads.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from servers import free_port, running_sidecar, stop_process

pytestmark = pytest.mark.heavy

VENV = Path(os.environ.get("SIDECAR_MLSERVER_VENV", Path(__file__).parents[2] / ".mlserver"))

TRAIN = """
import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
x, y = load_iris(return_X_y=True)
joblib.dump(LogisticRegression(max_iter=500).fit(x, y), "model.joblib")
"""


@pytest.fixture(scope="module")
def mlserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """MLServer serving model `iris` (predict_proba) on 127.0.0.1."""
    if not (VENV / "bin" / "mlserver").exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"MLServer virtualenv missing at {VENV}: .ci/run must create it")
        pytest.skip(
            f"no MLServer virtualenv at {VENV} (python -m venv .mlserver && "
            ".mlserver/bin/pip install mlserver mlserver-sklearn)"
        )
    folder = tmp_path_factory.mktemp("mlserver")
    subprocess.run([str(VENV / "bin" / "python"), "-c", TRAIN], cwd=folder, check=True, timeout=120)
    port = free_port()
    (folder / "settings.json").write_text(
        json.dumps(
            {
                "host": "127.0.0.1",
                "http_port": port,
                "grpc_port": free_port(),
                "metrics_port": free_port(),
                "parallel_workers": 0,
                "load_models_at_startup": True,
            }
        )
    )
    (folder / "model-settings.json").write_text(
        json.dumps(
            {
                "name": "iris",
                "implementation": "mlserver_sklearn.SKLearnModel",
                "parameters": {"uri": "./model.joblib", "version": "v1"},
            }
        )
    )
    log = (folder / "mlserver.log").open("wb")
    proc = subprocess.Popen(
        [str(VENV / "bin" / "mlserver"), "start", str(folder)],
        cwd=folder,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/v2/models/iris/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None:
                break
            time.sleep(0.5)
        else:
            pytest.fail("MLServer did not become ready: " + (folder / "mlserver.log").read_text())
        assert proc.poll() is None, (folder / "mlserver.log").read_text()[-2000:]
        yield url
    finally:
        stop_process(proc)
        log.close()


def _request(rows: list[list[float]]) -> dict[str, object]:
    return {
        "inputs": [
            {
                "name": "input-0",
                "shape": [len(rows), 4],
                "datatype": "FP64",
                "data": [v for row in rows for v in row],
            }
        ],
        "outputs": [{"name": "predict_proba"}],
    }


class TestMLServerBehindTheSidecar:
    def test_answers_pass_unchanged_and_payloads_decode(self, mlserver: str) -> None:
        """MLServer's v2 answers reach the client as MLServer sent them, and the sidecar
        decodes its requests into four features and its probabilities into a prediction."""
        rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]
        body = json.dumps(_request(rows)).encode()
        headers = {"content-type": "application/json", "x-request-id": "fixed-id"}
        direct = httpx.post(mlserver + "/v2/models/iris/infer", content=body, headers=headers)
        with running_sidecar(mlserver) as sc:
            proxied = [
                httpx.post(
                    sc.url + "/v2/models/iris/infer",
                    content=body,
                    headers={**headers, "x-request-id": f"r{i}"},
                )
                for i in range(40)
            ]
            assert sc.runtime.worker.wait_idle(20)
            drift = httpx.get(sc.admin_url + "/api/v1/drift?model=iris").json()
            monitor = sc.runtime.monitor
        assert direct.status_code == 200
        assert all(p.status_code == 200 for p in proxied)
        answer = proxied[0].json()
        expected = direct.json()
        answer.pop("id", None)
        expected.pop("id", None)
        assert answer == expected
        assert monitor.counters().decode_errors == {}
        assert monitor.counters().rows["iris"] == 40 * len(rows)
        assert len(drift["features"]) == 4
        assert drift["features"][next(iter(drift["features"]))]["count"] == 120
        outputs = drift["predictions"]
        assert "prediction" in outputs and outputs["prediction"]["kind"] == "categorical"
