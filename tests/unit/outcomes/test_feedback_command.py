"""`sidecar feedback FILE` against a real HTTP server.

The real `POST /api/v1/feedback` endpoint is the admin app's (wired by the lead); this stand-in
is a tiny starlette app served by uvicorn on 127.0.0.1 that uses the same parsing and joining
code (`sidecar.feedback`, `sidecar.predictions`), so the command is exercised over real HTTP.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sidecar import feedback_command
from sidecar.feedback import FeedbackTooLarge, apply_feedback, parse_feedback
from sidecar.predictions import PredictionStore

TOKEN = "s3cret"


def _app(store: PredictionStore, calls: list[int]) -> Starlette:
    async def feedback(request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return JSONResponse({"error": "unauthorised"}, status_code=401)
        try:
            parsed = parse_feedback(await request.body())
        except FeedbackTooLarge as exc:
            return JSONResponse({"error": str(exc)}, status_code=413)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        calls.append(len(parsed.items) + parsed.invalid)
        result, _ = apply_feedback(store, parsed.items, 1.0, parsed.invalid)
        return JSONResponse(result.to_json())

    return Starlette(routes=[Route("/api/v1/feedback", feedback, methods=["POST"])])


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.contextmanager
def _serve(app: Starlette) -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = _Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, PredictionStore, list[int]]]:
    store = PredictionStore()
    for i in range(25):
        store.put(f"r{i}", 0.0, ["1"], None, None, 0.0)
    calls: list[int] = []
    with _serve(_app(store, calls)) as url:
        yield url, store, calls


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sidecar")
    feedback_command.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["feedback", *argv])


class TestFeedbackCommand:
    """Posting label files in batches."""

    def test_csv_file_in_batches(
        self,
        served: tuple[str, PredictionStore, list[int]],
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """A CSV file is posted in batches and the summed counts are printed."""
        url, _, calls = served
        lines = ["request_id,label"] + [f"r{i},1" for i in range(10)] + ["r0,0", "ghost,1"]
        path = tmp_path / "labels.csv"
        path.write_text("\n".join(lines) + "\n")
        calls.clear()
        code = feedback_command.run(
            _args(str(path), "--admin", url, "--token", TOKEN, "--batch-size", "5")
        )
        out, err = capsys.readouterr()
        assert code == 0
        assert json.loads(out) == {"matched": 10, "unknown": 1, "duplicate": 1, "invalid": 0}
        assert calls == [5, 5, 2]
        assert "posted 12 labels" in err

    def test_jsonl_file_with_batched_labels(
        self,
        served: tuple[str, PredictionStore, list[int]],
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """JSON Lines rows may carry 'labels'; malformed rows are counted invalid by the server."""
        url, _, _ = served
        rows = [{"request_id": "r20", "label": "1"}, {"request_id": "r21", "labels": [1, 0]}]
        rows.append({"request_id": "r22"})
        path = tmp_path / "labels.jsonl"
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
        code = feedback_command.run(_args(str(path), "--admin", url, "--token", TOKEN))
        assert code == 0
        counts = json.loads(capsys.readouterr().out)
        assert counts == {"matched": 1, "unknown": 0, "duplicate": 0, "invalid": 2}

    def test_rejected_batch_fails(
        self,
        served: tuple[str, PredictionStore, list[int]],
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """A refused batch (here a wrong token) exits 1 naming the status."""
        url, _, _ = served
        path = tmp_path / "labels.csv"
        path.write_text("request_id,label\nr1,1\n")
        assert feedback_command.run(_args(str(path), "--admin", url, "--token", "wrong")) == 1
        assert "401" in capsys.readouterr().err

    def test_unreachable_admin_api(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A closed port exits 2 with a clear message."""
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        path = tmp_path / "labels.csv"
        path.write_text("request_id,label\nr1,1\n")
        code = feedback_command.run(_args(str(path), "--admin", f"http://127.0.0.1:{port}"))
        assert code == 2
        assert "cannot reach the admin API" in capsys.readouterr().err

    def test_bad_csv_header(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A CSV without request_id and label columns exits 1 naming the missing columns."""
        path = tmp_path / "labels.csv"
        path.write_text("id,y\n1,1\n")
        assert feedback_command.run(_args(str(path), "--admin", "http://127.0.0.1:1")) == 1
        assert "label" in capsys.readouterr().err

    def test_batch_size_is_bounded(self, tmp_path: Path) -> None:
        """A batch size over the endpoint's limit is refused before posting."""
        path = tmp_path / "labels.csv"
        path.write_text("request_id,label\n")
        assert feedback_command.run(_args(str(path), "--batch-size", "10001")) == 1
