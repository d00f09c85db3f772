"""The label-free estimate through a real sidecar: before labels, then beside the realised figures.

A model answers one miscalibrated score per row (squashed towards 0.5, rounded to two decimals,
some exactly 0.0 or 1.0); the reference is profiled by `sidecar profile --probability`; class
1 is predicted at score >= 0.65. Labels are posted after the predictions.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import httpx
import numpy as np
import pytest
from servers import running_sidecar, serve_app
from sklearn import metrics as skm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sidecar.commands.cli import main

PATH = "/v1/models/credit:predict"
THRESHOLD = 0.65
ROWS_PER_REQUEST = 25
REQUESTS = 120


def _score(x: np.ndarray) -> np.ndarray:
    """The model's score: true P(1 | x) squashed towards 0.5 and rounded, clipped to [0, 1]."""
    p = 1.0 / (1.0 + np.exp(-3.0 * x))
    return np.clip(
        np.round(0.5 + 0.8 * (p - 0.5) + np.where(np.abs(x) > 2.5, np.sign(x), 0), 2), 0, 1
    )


def _truth(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return (rng.random(len(x)) < 1.0 / (1.0 + np.exp(-3.0 * x))).astype(int)


async def _model(request: Request) -> Response:
    rows = (await request.json())["instances"]
    scores = _score(np.array([float(r["x0"]) for r in rows]))
    return JSONResponse({"predictions": scores.tolist()})


def _profile(directory: Path) -> Path:
    """A 20,000-row reference CSV profiled with --target and --probability."""
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1.2, 20_000)
    data = directory / "reference.csv"
    with data.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["x0", "label", "score"])
        writer.writerows(zip(x, _truth(x, rng), _score(x), strict=True))
    out = directory / "reference.json"
    argv = ["profile", str(data), "-o", str(out), "--target", "label", "--probability", "score"]
    assert main([*argv, "--threshold", str(THRESHOLD), "--quiet"]) == 0
    return out


def _gauge(text: str, name: str, metric: str) -> float:
    match = re.search(rf'^{name}\{{[^}}]*metric="{metric}"[^}}]*\}} (\S+)$', text, re.M)
    assert match, f"{name}{{metric={metric!r}}} not in /metrics"
    return float(match.group(1))


class TestEstimateThroughTheSidecar:
    """Estimate, realised figure and error side by side in /api/v1/performance and /metrics."""

    def test_estimate_then_realised_and_error(self, tmp_path: Path) -> None:
        """Before labels the status judges the estimate; after, the realised figure and error."""
        config = tmp_path / "sidecar.yaml"
        config.write_text(
            '{"performance": {"threshold": 0.65, "min_count": 30},'
            ' "status": {"performance_floor": 0.5}}'
        )
        rng = np.random.default_rng(2)
        x = rng.normal(0.4, 1.2, REQUESTS * ROWS_PER_REQUEST)
        y = _truth(x, rng)
        app = Starlette(routes=[Route(PATH, _model, methods=["POST"])])
        with (
            serve_app(app) as upstream,
            running_sidecar(
                upstream.url,
                reference=_profile(tmp_path),
                config=config,
                window_seconds=3600,
            ) as sc,
        ):
            with httpx.Client(base_url=sc.url, timeout=10) as client:
                for i in range(REQUESTS):
                    part = x[i * ROWS_PER_REQUEST : (i + 1) * ROWS_PER_REQUEST]
                    body = {"instances": [{"x0": float(v)} for v in part]}
                    answer = client.post(PATH, json=body, headers={"x-request-id": f"r{i}"})
                    assert answer.status_code == 200
            assert sc.runtime.worker.wait_idle(30)
            before = httpx.get(sc.admin_url + "/api/v1/performance").json()["performance"]
            status = httpx.get(sc.admin_url + "/api/v1/status").json()
            labels = [
                {
                    "request_id": f"r{i}",
                    "labels": y[i * ROWS_PER_REQUEST : (i + 1) * ROWS_PER_REQUEST].tolist(),
                }
                for i in range(REQUESTS)
            ]
            assert httpx.post(sc.admin_url + "/api/v1/feedback", json=labels).status_code == 200
            after = httpx.get(sc.admin_url + "/api/v1/performance").json()["performance"]
            status_after = httpx.get(sc.admin_url + "/api/v1/status").json()
            text = httpx.get(sc.admin_url + "/metrics").text
        n = len(x)
        assert before["labelled_rows"] == 0 and before["accuracy"] is None
        assert before["calibrated"] is True and before["estimated_rows"] == n
        signal = next(s for s in status["signals"] if s["name"] == "performance")
        assert "estimated (calibrated on the reference" in signal["detail"]
        scores = _score(x)
        predicted = (scores >= THRESHOLD).astype(int)
        assert after["accuracy"] == pytest.approx(skm.accuracy_score(y, predicted))
        assert after["f1"] == pytest.approx(skm.f1_score(y, predicted))
        assert after["roc_auc"] == pytest.approx(skm.roc_auc_score(y, scores))
        assert after["log_loss"] == pytest.approx(
            skm.log_loss(y, np.clip(scores, 1e-15, 1 - 1e-15))
        )
        assert after["probability_rows"] == n
        for metric in ("accuracy", "f1", "roc_auc"):
            row = after["comparison"][metric]
            assert row["realised"] == after[metric]
            assert row["error"] == pytest.approx(row["estimated"] - row["realised"])
            assert abs(row["error"]) < 0.05
            assert _gauge(text, "sidecar_model_estimated_performance", metric) == pytest.approx(
                row["estimated"]
            )
            assert _gauge(text, "sidecar_model_estimation_error", metric) == pytest.approx(
                row["error"]
            )
            assert _gauge(text, "sidecar_model_performance", metric) == pytest.approx(
                row["realised"]
            )
        realised = next(s for s in status_after["signals"] if s["name"] == "performance")
        assert "realised over 3000 labelled rows" in realised["detail"]
