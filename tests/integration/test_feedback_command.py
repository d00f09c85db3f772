"""`sidecar feedback FILE` against a real sidecar's `POST /api/v1/feedback`."""

from __future__ import annotations

import argparse
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from servers import ThreadedUvicorn, running_sidecar

from sidecar.commands import feedback as feedback_command

TOKEN = "s3cret"


@pytest.fixture(scope="module")
def served(upstream: ThreadedUvicorn) -> Iterator[str]:
    """A sidecar with an admin token that has seen requests r0..r24 (r21 carries two rows)."""
    with running_sidecar(upstream.url, admin_token=TOKEN) as sc:
        for i in range(25):
            rows = [[1.0, 2.0], [0.5, 0.5]] if i == 21 else [[1.0, 2.0]]
            httpx.post(
                sc.url + "/v1/models/m:predict",
                json={"instances": rows},
                headers={"x-request-id": f"r{i}"},
            )
        assert sc.runtime.worker.wait_idle(10)
        yield sc.admin_url


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sidecar")
    feedback_command.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["feedback", *argv])


class TestFeedbackCommand:
    """Posting label files in batches."""

    def test_csv_file_in_batches(
        self,
        served: str,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """A CSV file is posted in batches and the summed counts are printed."""
        url = served
        lines = ["request_id,label"] + [f"r{i},1" for i in range(10)] + ["r0,0", "ghost,1"]
        path = tmp_path / "labels.csv"
        path.write_text("\n".join(lines) + "\n")
        code = feedback_command.run(
            _args(str(path), "--admin", url, "--token", TOKEN, "--batch-size", "5")
        )
        out, err = capsys.readouterr()
        assert code == 0
        assert json.loads(out) == {"matched": 10, "unknown": 1, "duplicate": 1, "invalid": 0}
        assert "posted 12 labels" in err

    def test_jsonl_file_with_batched_labels(
        self,
        served: str,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """JSON Lines rows may carry one label per row (`labels`); a row without one is invalid."""
        url = served
        rows = [{"request_id": "r20", "label": "1"}, {"request_id": "r21", "labels": [1, 0]}]
        rows.append({"request_id": "r22"})
        path = tmp_path / "labels.jsonl"
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
        code = feedback_command.run(_args(str(path), "--admin", url, "--token", TOKEN))
        assert code == 0
        counts = json.loads(capsys.readouterr().out)
        assert counts == {"matched": 2, "unknown": 0, "duplicate": 0, "invalid": 1}

    def test_rejected_batch_fails(
        self,
        served: str,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """A refused batch (here a wrong token) exits 1 naming the status."""
        url = served
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
