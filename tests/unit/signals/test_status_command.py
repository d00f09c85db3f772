"""`sidecar status` against a real HTTP server.

The real `/api/v1/status` endpoint is the lead's admin app; here a tiny starlette app on
127.0.0.1 (port 0, in a thread) stands in for it, serving a fixed report built with the same
`StatusReport.to_json()` the endpoint uses.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sidecar.commands import status as status_command
from sidecar.signals.verdicts import Signal, StatusReport

REPORT = StatusReport(
    (
        Signal("data_quality_missing", "critical", 1.0, 0.2, "worst feature 'age': 100.00%"),
        Signal("latency_slo", "ok", 0.12, 0.5, "p99 120 ms"),
        Signal("performance", "unknown", None, None, "no performance floor configured"),
    ),
    generated_at=1_700_000_000.0,
).to_json()


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.contextmanager
def serving(report: Any, status_code: int = 200, token: str | None = None) -> Iterator[str]:
    """Serve `report` at /api/v1/status on 127.0.0.1 in a thread; yield the base URL."""

    async def status(request: Request) -> Response:
        if token and request.headers.get("authorization") != f"Bearer {token}":
            return JSONResponse({"error": "unauthorised"}, status_code=401)
        return JSONResponse(report, status_code=status_code)

    app = Starlette(routes=[Route("/api/v1/status", status)])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = _Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    status_command.register(parser.add_subparsers())
    return parser.parse_args(["status", *argv])


class TestStatusCommand:
    def test_prints_table_and_exits_2_on_critical(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A critical report prints every signal in a table without colour off a terminal."""
        with serving(REPORT) as url:
            code = status_command.run(_args("--admin", url))
        out = capsys.readouterr().out
        assert code == 2
        assert "data_quality_missing" in out and "critical" in out and "overall: critical" in out
        assert "\033[" not in out

    def test_json_flag_prints_the_report(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--json prints the report unchanged."""
        with serving(REPORT) as url:
            status_command.run(_args("--admin", url, "--json"))
        assert json.loads(capsys.readouterr().out) == REPORT

    @pytest.mark.parametrize(("verdict", "code"), [("ok", 0), ("unknown", 0), ("warning", 1)])
    def test_exit_code_follows_verdict(self, verdict: str, code: int) -> None:
        """ok and unknown exit 0, warning exits 1."""
        with serving({**REPORT, "status": verdict}) as url:
            assert status_command.run(_args("--admin", url, "--json")) == code

    def test_token_is_sent(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--token is sent as a bearer token; without it the protected endpoint is refused."""
        with serving(REPORT, token="s3cret") as url:
            assert status_command.run(_args("--admin", url, "--token", "s3cret")) == 2
            assert status_command.run(_args("--admin", url)) == 3
        assert "HTTP 401" in capsys.readouterr().err

    def test_unreachable_exits_3(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A closed port exits 3 with a message naming the URL."""
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        assert status_command.run(_args("--admin", f"http://127.0.0.1:{port}")) == 3
        assert f"cannot reach http://127.0.0.1:{port}/api/v1/status" in capsys.readouterr().err

    def test_not_a_report_exits_3(self, capsys: pytest.CaptureFixture[str]) -> None:
        """JSON without a known status is not a report."""
        with serving({"hello": 1}) as url:
            assert status_command.run(_args("--admin", url)) == 3
        assert "did not return a status report" in capsys.readouterr().err


class TestRendering:
    def test_colour_on_a_terminal_only(self) -> None:
        """Colour needs a terminal and no NO_COLOR."""

        class Tty(io.StringIO):
            def isatty(self) -> bool:
                return True

        assert status_command.use_colour(Tty(), {}) is True
        assert status_command.use_colour(Tty(), {"NO_COLOR": "1"}) is False
        assert status_command.use_colour(io.StringIO(), {}) is False

    def test_colour_marks_verdicts(self) -> None:
        """Critical rows are red and ok rows green when colour is on."""
        table = status_command.render_table(REPORT, colour=True)
        assert "\033[31mcritical" in table and "\033[32mok" in table

    def test_columns_align(self) -> None:
        """Every row starts its STATUS column at the same offset."""
        lines = status_command.render_table(REPORT).splitlines()[:4]
        offsets = {
            line.index(word)
            for line, word in zip(lines, ["STATUS", "critical", "ok", "unknown"], strict=True)
        }
        assert len(offsets) == 1
