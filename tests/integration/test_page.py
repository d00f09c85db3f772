"""The admin page in a real headless browser (Debian's chromium) against a sidecar that saw drift.

Chromium is driven by its command line (`--dump-dom`, `--screenshot`, `--log-net-log`); the
tests skip, naming the install command, where it is missing (`.ci/run` installs it).
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from model_traffic import PATH, rows
from servers import SidecarHandle, ThreadedUvicorn, running_sidecar

from sidecar.reference.builder import ProfileBuilder
from sidecar.reference.profile import save_reference

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
INSTALL = "apt-get install -y chromium"
BROWSER_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
WINDOWS = 3
"""Windows of drifted traffic sent."""
WINDOW_SECONDS = 2
REQUESTS = 100
"""Requests of 4 rows per window."""
CONFIG = {
    "fairness": {"attributes": ["colour"], "favourable": 1, "min_group_size": 5},
    "performance": {"task": "classification", "min_count": 10},
}

needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason=f"chromium missing: {INSTALL}")


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        return subprocess.run(
            [CHROMIUM, *BROWSER_FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )


def _wait_for_history(sc: SidecarHandle, summaries: int, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        answer = httpx.get(sc.admin_url + "/api/v1/history")
        if answer.status_code == 200 and len(answer.json()["summaries"]) >= summaries:
            return dict(answer.json())
        if time.monotonic() > deadline:
            raise AssertionError(f"history did not reach {summaries} summaries: {answer.text}")
        time.sleep(0.2)


def _reference(directory: Path) -> Path:
    """5,000 reference rows of x0, x1, x2, colour and the model's answer `pred` (x0 > 0)."""
    data = rows(11, 5_000)
    columns: dict[str, list[Any]] = {k: [r[k] for r in data] for k in data[0]}
    columns["pred"] = [int(r["x0"] > 0) for r in data]
    builder = ProfileBuilder(categorical=["colour", "pred"], prediction="pred")
    builder.add(columns)
    if builder.needs_second_pass:
        builder.start_counting()
        builder.add(columns)
    path = directory / "reference.json"
    save_reference(builder.build(), path)
    return path


async def _post_window(url: str, window: int) -> list[dict[str, Any]]:
    """`REQUESTS` requests of x1 shifted by 2 sd; the labels to post for them (x0 > 0.3)."""
    data = rows(100 + window, REQUESTS * 4, shift=2.0)
    labels = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=8)) as session:

        async def send(j: int) -> None:
            chunk = data[j * 4 : j * 4 + 4]
            rid = f"w{window}-{j}"
            headers = {"content-type": "application/json", "x-request-id": rid}
            body = json.dumps({"instances": chunk})
            async with session.post(url + PATH, data=body, headers=headers) as response:
                assert response.status == 200
            labels.append({"request_id": rid, "labels": [int(r["x0"] > 0.3) for r in chunk]})

        await asyncio.gather(*(send(j) for j in range(REQUESTS)))
    return labels


def _send_drift(sc: SidecarHandle) -> None:
    """`WINDOWS` windows of drifted traffic, each labelled before it closes."""
    for window in range(WINDOWS):
        # Start just after a boundary, so one window's requests and labels stay in it.
        time.sleep(WINDOW_SECONDS - time.time() % WINDOW_SECONDS + 0.05)
        labels = asyncio.run(_post_window(sc.url, window))
        assert sc.runtime.worker.wait_idle(30)
        answer = httpx.post(sc.admin_url + "/api/v1/feedback", json=labels)
        assert answer.status_code == 200, answer.text


@pytest.fixture(scope="module")
def drifted(
    upstream: ThreadedUvicorn, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SidecarHandle]:
    """A sidecar with a reference and 2-s windows that saw `WINDOWS` windows of drifted x1."""
    directory = tmp_path_factory.mktemp("reference")
    config = directory / "sidecar.yaml"
    config.write_text(json.dumps(CONFIG))
    with running_sidecar(
        upstream.url,
        reference=_reference(directory),
        config=config,
        window_seconds=WINDOW_SECONDS,
        rolling_windows=30,
    ) as sc:
        _send_drift(sc)
        _wait_for_history(sc, WINDOWS)
        yield sc


def _page_requests(net_log: Path) -> list[tuple[str, str]]:
    """(request type, URL) of every request the page made, from chromium's network log.

    The browser's own background requests (updates, accounts) carry another network
    isolation key than the page's; they are not the page's doing and are left out.
    """
    text = net_log.read_text()
    try:
        log = json.loads(text)
    except json.JSONDecodeError:  # a log cut short at exit lacks its closing brackets
        log = json.loads(text.rstrip().rstrip(",") + "]}")
    names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    found = []
    for event in log["events"]:
        params = event.get("params", {})
        if names.get(event["type"]) == "URL_REQUEST_START_JOB" and "url" in params:
            if str(params.get("network_isolation_key", "")).startswith("http://127.0.0.1"):
                found.append((str(params.get("request_type")), str(params["url"])))
    return found


@needs_chromium
class TestPageInBrowser:
    def test_the_drifted_feature_is_marked_and_charts_are_drawn(
        self, drifted: SidecarHandle, tmp_path: Path
    ) -> None:
        """The rendered DOM marks x1 (and only x1 of the numeric features) as drifted, draws
        the charts with threshold lines, and the screenshot is kept under tmp_path."""
        url = drifted.admin_url + "/?window=rolling&refresh=0"
        dom = _chromium("--dump-dom", url).stdout
        assert 'data-column="x1" data-drift="true"' in dom
        for steady in ("x0", "x2"):
            assert f'data-column="{steady}" data-drift="false"' in dom
        assert len(re.findall(r"<svg class=\"chart\"", dom)) >= 17
        assert dom.count('class="threshold"') >= 4
        assert 'id="overall"' in dom and "feature_drift" in dom
        shot = tmp_path / "page.png"
        _chromium("--window-size=1400,4200", f"--screenshot={shot}", url)
        print(f"page screenshot: {shot}")
        assert shot.stat().st_size > 20_000

    def test_no_request_leaves_the_admin_port(self, drifted: SidecarHandle, tmp_path: Path) -> None:
        """Chromium's network log shows the page made one request, to the admin port, and the
        DOM has no link, script or image pointing anywhere else."""
        net_log = tmp_path / "net-log.json"
        url = drifted.admin_url + "/?refresh=0"
        dom = _chromium(f"--log-net-log={net_log}", "--dump-dom", url).stdout
        requests = _page_requests(net_log)
        assert ("main frame", url) in requests
        assert all(u.startswith(drifted.admin_url + "/") for _, u in requests), requests
        targets = re.findall(r"(?:src|href|action)=\"([^\"]*)\"", dom)
        assert targets and all(t.startswith(("/", "?", "data:")) for t in targets), targets


class TestPageRoutes:
    def test_the_page_answers_html_with_a_strict_policy(self, drifted: SidecarHandle) -> None:
        """GET / answers HTML (gzip-compressed when asked) with default-src 'none' and a nonce
        for its script and style."""
        answer = httpx.get(drifted.admin_url + "/", headers={"accept-encoding": "gzip"})
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
        assert answer.headers["content-encoding"] == "gzip"
        plain = httpx.get(drifted.admin_url + "/", headers={"accept-encoding": "identity"})
        assert "content-encoding" not in plain.headers and plain.text.startswith("<!doctype html>")
        policy = answer.headers["content-security-policy"]
        nonce = re.search(r"'nonce-([^']+)'", policy)
        assert "default-src 'none'" in policy and nonce is not None
        assert f'<script nonce="{nonce.group(1)}">' in answer.text

    def test_a_bad_window_is_a_400_and_the_page_only_reads(self, drifted: SidecarHandle) -> None:
        """?window=yesterday -> 400; POST / is not allowed (405)."""
        assert httpx.get(drifted.admin_url + "/?window=yesterday").status_code == 400
        assert httpx.post(drifted.admin_url + "/").status_code == 405

    def test_a_render_failure_is_a_500_and_the_admin_port_keeps_answering(
        self, drifted: SidecarHandle, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A page that raises answers 500 in plain text; /healthz and the API still answer."""

        def broken(*args: object) -> str:
            raise RuntimeError("boom")

        monkeypatch.setattr("sidecar.page.routes.render_page", broken)
        answer = httpx.get(drifted.admin_url + "/")
        assert answer.status_code == 500 and "RuntimeError" in answer.text
        assert answer.headers["content-type"].startswith("text/plain")
        assert httpx.get(drifted.admin_url + "/healthz").status_code == 200
        assert httpx.get(drifted.admin_url + "/api/v1/drift").status_code == 200

    def test_history_has_one_summary_per_closed_window(self, drifted: SidecarHandle) -> None:
        """/api/v1/history lists closed windows in order, x1 drifted in each; unknown -> 404."""
        body = _wait_for_history(drifted, WINDOWS)
        starts = [s["start"] for s in body["summaries"]]
        assert starts == sorted(set(starts))
        drifted_windows = [s for s in body["summaries"] if s["rows"] >= 100]
        assert drifted_windows and all(s["features"]["x1"]["drift"] for s in drifted_windows)
        assert body["capacity"] == 288 and body["traffic"]
        assert httpx.get(drifted.admin_url + "/api/v1/history?model=nobody").status_code == 404


class TestLockdown:
    def test_the_page_needs_no_token_where_writes_do(self, upstream: ThreadedUvicorn) -> None:
        """With an admin token set, GET / and GET /api/v1/history answer without it, as every
        read does, while POST /api/v1/feedback still needs it."""
        with running_sidecar(upstream.url, admin_token="s3cret") as sc:
            page = httpx.get(sc.admin_url + "/")
            history = httpx.get(sc.admin_url + "/api/v1/history")
            feedback = httpx.post(sc.admin_url + "/api/v1/feedback", json=[])
        assert page.status_code == 200 and "no sampled traffic yet" in page.text
        assert history.status_code == 404 and history.json()["error"] == "no_data"
        assert feedback.status_code == 401


class TestHistoryAcrossRestarts:
    def test_a_restarted_sidecar_shows_the_same_history(
        self, upstream: ThreadedUvicorn, tmp_path: Path
    ) -> None:
        """With --state-dir, the summaries recorded before a restart are served after it."""
        options = {
            "reference": _reference(tmp_path),
            "analysis_cpu_share": 1.0,
            "window_seconds": WINDOW_SECONDS,
            "state_dir": tmp_path / "state",
        }
        with running_sidecar(upstream.url, **options) as first:
            _send_drift(first)
            before = _wait_for_history(first, WINDOWS)["summaries"]
        with running_sidecar(upstream.url, **options) as second:
            after = httpx.get(second.admin_url + "/api/v1/history?model=iris").json()
        assert after["summaries"][: len(before)] == before
