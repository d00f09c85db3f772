"""First-hour behaviour against real servers: feedback output, demo output, booleans, 4xx rows."""

from __future__ import annotations

import csv
import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import ThreadedUvicorn, running_sidecar, serve_app, sidecar_command
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

TOKEN = "first-hour"


def _sidecar(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return sidecar_command(*args, env=env, timeout=120.0)


async def _strict_predict(request: Request) -> Response:
    """A model that rejects rows with x0 < 0 (422) and predicts x0 > 1 otherwise."""
    rows = (await request.json())["instances"]
    if any(row["x0"] < 0 for row in rows):
        return JSONResponse({"error": "x0 must be >= 0"}, status_code=422)
    return JSONResponse({"predictions": [int(row["x0"] > 1) for row in rows]})


@pytest.fixture(scope="module")
def strict_model() -> Iterator[ThreadedUvicorn]:
    """The strict model on 127.0.0.1."""
    app = Starlette(routes=[Route("/v1/models/{name}:predict", _strict_predict, methods=["POST"])])
    with serve_app(app) as server:
        yield server


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reference profiled by `sidecar profile` from a CSV as pandas writes booleans (True)."""
    folder = tmp_path_factory.mktemp("reference")
    data = folder / "train.csv"
    with data.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["x0", "flag", "prediction"])
        writer.writerows([[0.5 + (i % 4) / 2, str(i % 2 == 0), int(i % 4 > 1)] for i in range(400)])
    out = folder / "reference.json"
    result = _sidecar(
        "profile", str(data), "-o", str(out), "--quiet", "--prediction", "prediction",
        "--categorical", "prediction",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out


def _predict(url: str, x0: float, request_id: str, flag: bool = True) -> int:
    body = {"instances": [{"x0": x0, "flag": flag}]}
    headers = {"x-request-id": request_id}
    return httpx.post(url + "/v1/models/m:predict", json=body, headers=headers).status_code


def _report(admin: str, name: str) -> Any:
    return httpx.get(f"{admin}/api/v1/{name}?window=rolling").json()


class TestLiveBooleans:
    """Live JSON booleans match a reference read from pandas' True/False."""

    def test_json_true_false_are_the_reference_categories(
        self, strict_model: ThreadedUvicorn, reference: Path
    ) -> None:
        """Sending true/false as the reference did: no unseen category, JS near 0."""
        with running_sidecar(strict_model.url, reference=str(reference)) as sc:
            for i in range(200):
                assert _predict(sc.url, 1.0, f"b{i}", flag=i % 2 == 0) == 200
            assert sc.runtime.worker.wait_idle(10)
            flag = _report(sc.admin_url, "drift")["features"]["flag"]
        assert flag["count"] == 200
        assert flag["statistics"]["js"] < 0.01


class TestRejectedRequests:
    """Rows the model rejects with 4xx count as inputs, not as predictions."""

    def test_4xx_rows_count_in_quality_and_input_drift_only(
        self, strict_model: ThreadedUvicorn, reference: Path
    ) -> None:
        """30 accepted, 20 rejected: 50 feature rows, 30 prediction rows, 20 labels unknown."""
        with running_sidecar(
            strict_model.url, reference=str(reference),
            admin_token=TOKEN,
        ) as sc:  # fmt: skip
            codes = [_predict(sc.url, -1.0 if i < 20 else 1.5, f"r{i}") for i in range(50)]
            assert codes.count(422) == 20 and codes.count(200) == 30
            assert sc.runtime.worker.wait_idle(10)
            drift, quality = _report(sc.admin_url, "drift"), _report(sc.admin_url, "quality")
            labels = [{"request_id": f"r{i}", "label": 1} for i in range(50)]
            fed = httpx.post(
                sc.admin_url + "/api/v1/feedback",
                json=labels,
                headers={"Authorization": f"Bearer {TOKEN}"},
            ).json()
        assert quality["features"]["x0"]["rows"] == 50
        assert drift["features"]["x0"]["count"] == 50
        assert drift["predictions"]["prediction"]["count"] == 30
        assert (fed["matched"], fed["unknown"]) == (30, 20)


class TestFeedbackCommand:
    """`sidecar feedback` explains itself."""

    def test_batch_size_has_help(self) -> None:
        """--batch-size says what it is and its range."""
        text = _sidecar("feedback", "--help").stdout
        assert "--batch-size N" in text and "labels per POST, in [1, 10,000]" in text

    def test_json_line_and_invalid_reasons(
        self, strict_model: ThreadedUvicorn, tmp_path: Path
    ) -> None:
        """The summary is one JSON line ending in a newline; a {"x": 1} label is named with why."""
        with running_sidecar(strict_model.url, admin_token=TOKEN) as sc:
            assert _predict(sc.url, 1.5, "ok-1") == 200
            assert sc.runtime.worker.wait_idle(10)
            labels = tmp_path / "labels.jsonl"
            labels.write_text(
                json.dumps({"request_id": "ok-1", "label": 1}) + "\n"
                + json.dumps({"request_id": "ok-2", "label": {"x": 1}}) + "\n"
            )  # fmt: skip
            result = _sidecar("feedback", str(labels), "--admin", sc.admin_url, "--token", TOKEN)
        assert result.returncode == 0, result.stderr
        assert result.stdout.endswith("}\n") and result.stdout.count("\n") == 1
        assert json.loads(result.stdout) == {
            "matched": 1, "unknown": 0, "duplicate": 0, "invalid": 1,
        }  # fmt: skip
        assert (
            f"{labels}:2: invalid: label {{'x': 1}} is not a string, boolean or finite number"
            in result.stderr
        )


class TestDemoOutput:
    """`sidecar demo > file` writes plain lines."""

    def test_output_to_a_file_has_no_ansi_escapes(self) -> None:
        """With stdout not a terminal the demo prints plain summaries, no escape sequences."""
        result = _sidecar(
            "demo", "--duration", "6", "--port", "0", "--admin-port", "0", "--model-port", "0",
            "--window-seconds", "2",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "\x1b" not in result.stdout
        assert "--- t=" in result.stdout and "demo stopped" in result.stdout

    def test_busy_port_is_named_with_a_way_out(self) -> None:
        """A taken model port exits 1 naming the address and port and the options to change."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            sock.listen()
            port = sock.getsockname()[1]
            result = _sidecar("demo", "--model-port", str(port), "--duration", "1")
        assert result.returncode == 1
        assert f"cannot listen on 127.0.0.1:{port}: address already in use" in result.stderr
        assert "--model-port" in result.stderr
