"""`sidecar demo` end to end, and the demo's model, model server and view pieces."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys

import httpx
import numpy as np
import pytest

from sidecar.decoders import DecodeOptions, decode_pair
from sidecar.demo.model import SHIFTED_FEATURES, generate, training_data
from sidecar.demo.server import build_model_app
from sidecar.demo.traffic import v1_body, v2_body
from sidecar.demo.view import drift_lines, fairness_text, histogram_quantile, read_histogram
from sidecar.records import Captured

HEADER = re.compile(r"^--- t=(?P<t>[\d.]+)s traffic=(?P<phase>before|after)-shift ")
FEATURE = re.compile(r"^feature (?P<name>\S+) .* drift=(?P<drift>yes|no|n/a)$")
NOT_SHIFTED = ("age", "debt_ratio", "tenure_months", "channel", "group")


def _blocks(output: str) -> list[tuple[str, dict[str, str]]]:
    """(phase, {feature: verdict}) per summary block of `--no-tty` output."""
    blocks: list[tuple[str, dict[str, str]]] = []
    for line in output.splitlines():
        if (head := HEADER.match(line)) is not None:
            blocks.append((head["phase"], {}))
        elif (feature := FEATURE.match(line)) is not None and blocks:
            blocks[-1][1][feature["name"]] = feature["drift"]
    return blocks


@pytest.fixture(scope="module")
def demo_run() -> subprocess.CompletedProcess[str]:
    """`sidecar demo` shortened: 30 s, shift at 14 s, 6 s windows, 60 requests/s."""
    command = [
        sys.executable, "-m", "sidecar", "demo", "--no-tty", "--duration", "30",
        "--shift-after", "14", "--window-seconds", "6", "--rate", "60",
        "--port", "0", "--admin-port", "0", "--model-port", "0",
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)


class TestDemoCommand:
    """The demo as a user runs it, shortened: 30 s, shift at 14 s, 6 s windows."""

    def test_exits_cleanly(self, demo_run: subprocess.CompletedProcess[str]) -> None:
        """The demo ends by itself after --duration with status 0 and says so."""
        assert demo_run.returncode == 0, demo_run.stderr
        assert demo_run.stdout.rstrip().endswith("demo stopped")
        assert "Traceback" not in demo_run.stderr

    def test_prints_urls(self, demo_run: subprocess.CompletedProcess[str]) -> None:
        """The metrics and API URLs are printed before the first summary."""
        head = demo_run.stdout.split("---", 1)[0]
        assert re.search(r"metrics: +http://127\.0\.0\.1:\d+/metrics", head)
        assert re.search(r"API: +http://127\.0\.0\.1:\d+/api/v1/drift", head)

    def test_shifted_features_drift_only_after_shift(
        self, demo_run: subprocess.CompletedProcess[str]
    ) -> None:
        """Before the shift no feature drifts; by the end the two shifted features do."""
        blocks = _blocks(demo_run.stdout)
        before = [verdicts for phase, verdicts in blocks if phase == "before"]
        after = [verdicts for phase, verdicts in blocks if phase == "after"]
        assert before and after, demo_run.stdout
        assert any(v.get(name) == "no" for v in before for name in SHIFTED_FEATURES), (
            demo_run.stdout
        )
        for verdicts in before:
            assert "yes" not in verdicts.values(), demo_run.stdout
        assert all(after[-1].get(name) == "yes" for name in SHIFTED_FEATURES), demo_run.stdout
        for verdicts in after:
            assert all(verdicts.get(name) != "yes" for name in NOT_SHIFTED), demo_run.stdout

    def test_traffic_and_labels_flowed(self, demo_run: subprocess.CompletedProcess[str]) -> None:
        """Every request succeeded, labels were accepted and performance figures appeared."""
        traffic = re.search(r"^traffic: sent=(\d+) ok=(\d+) failed=(\d+) .*", demo_run.stdout, re.M)
        assert traffic is not None and int(traffic[1]) > 500 and traffic[3] == "0"
        assert re.search(r"labels_posted=[1-9]\d* label_posts_failed=0", demo_run.stdout)
        assert re.search(r"^performance: labelled=[1-9]\d* accuracy=0\.\d+", demo_run.stdout, re.M)
        assert re.search(r"requests/s=\d+\.\d p50=\d+\.\dms p99=\d+\.\dms", demo_run.stdout)


class TestDemoModel:
    """The seeded dataset and the numpy classifier."""

    def test_model_beats_the_base_rate(self) -> None:
        """Held-out accuracy is well above always predicting the majority class."""
        _, model = training_data()
        held_out = generate(np.random.default_rng(99), 4000)
        accuracy = float(
            ((model.predict_proba(held_out.columns)[:, 1] > 0.5) == held_out.labels).mean()
        )
        base = max(held_out.labels.mean(), 1 - held_out.labels.mean())
        assert accuracy > base + 0.1

    def test_shift_moves_income_region_and_group_b_outcomes(self) -> None:
        """After the shift income falls, west dominates, and group B's positive rate drops."""
        before = generate(np.random.default_rng(1), 20_000)
        after = generate(np.random.default_rng(1), 20_000, shifted=True)
        assert np.median(after.columns["income"]) < 0.7 * np.median(before.columns["income"])
        assert (after.columns["region"] == "west").mean() > 0.6
        b_before = before.labels[before.columns["group"] == "B"].mean()
        b_after = after.labels[after.columns["group"] == "B"].mean()
        assert b_after < b_before - 0.1


def _post(path: str, body: object) -> httpx.Response:
    """POST to the model app in-process (ASGI transport, no socket)."""
    _, model = training_data()

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=build_model_app(model))
        async with httpx.AsyncClient(transport=transport, base_url="http://model") as client:
            return await client.post(path, json=body)

    return asyncio.run(send())


class TestDemoModelServer:
    """The model server's two protocols, read back by the project's decoders."""

    def _decode(self, path: str, request: dict[str, object], response: bytes) -> object:
        pair = Captured(
            request_id="r", method="POST", path=path, query="", status=200,
            request_headers=(("content-type", "application/json"),),
            request_body=json.dumps(request).encode(), response_body=response,
            started=0.0, duration=0.0, response_content_type="application/json",
        )  # fmt: skip
        return decode_pair(pair, DecodeOptions())

    def test_v1_and_v2_agree_and_decode(self) -> None:
        """Both protocols score the same rows alike and decode to features and a class."""
        batch = generate(np.random.default_rng(5), 3)
        v1 = _post("/v1/models/credit:predict", v1_body(batch.rows()))
        v2 = _post("/v2/models/credit/infer", v2_body(batch, "x"))
        assert v1.status_code == v2.status_code == 200
        assert np.allclose(np.ravel(v1.json()["predictions"]), v2.json()["outputs"][0]["data"])
        decoded = self._decode("/v2/models/credit/infer", v2_body(batch, "x"), v2.content)
        assert set(decoded.features) == set(batch.columns)  # type: ignore[attr-defined]
        assert decoded.predictions["prediction"][0] in ("0", "1")  # type: ignore[attr-defined]

    def test_bad_body_and_unknown_model(self) -> None:
        """A body without instances answers 400 naming the shape; another model name 404."""
        bad = _post("/v1/models/credit:predict", {"rows": []})
        assert bad.status_code == 400 and "instances" in bad.json()["error"]
        assert _post("/v1/models/other:predict", {"instances": []}).status_code == 404


class TestDemoView:
    """The view's pure parts: histogram quantiles and tolerant reading of API bodies."""

    def test_quantile_interpolates_within_the_bucket(self) -> None:
        """Half of 10 observations in (0.001, 0.005] puts the median at the bucket's middle."""
        buckets = [(0.001, 0.0), (0.005, 10.0), (float("inf"), 10.0)]
        assert histogram_quantile(0.5, buckets) == pytest.approx(0.003)
        assert histogram_quantile(0.5, [(float("inf"), 0.0)]) is None

    def test_histogram_sums_label_sets(self) -> None:
        """Buckets of the same bound are added across routes."""
        text = "".join(
            f'http_server_request_duration_seconds_bucket{{http_route="{r}",le="{le}"}} {n}\n'
            for r in ("a", "b")
            for le, n in (("0.01", 2), ("+Inf", 3))
        )
        assert read_histogram("# TYPE http_server_request_duration_seconds histogram\n" + text) == [
            (0.01, 4.0),
            (float("inf"), 6.0),
        ]

    def test_missing_or_odd_bodies_read_as_not_available(self) -> None:
        """None, lists and empty reports give no drift lines and 'n/a' fairness."""
        assert drift_lines(None) == () and drift_lines([1]) == ()
        assert fairness_text(None) == "n/a"
        assert fairness_text({"attributes": ["group"], "fairness": None}) == "n/a"

    def test_reads_the_api_fairness_shape(self) -> None:
        """The per-attribute gaps are shown from the wrapped fairness report."""
        body = {
            "attributes": ["group"],
            "fairness": {"attributes": [{"attribute": "group",
                                         "demographic_parity_difference": 0.12,
                                         "equal_opportunity_difference": 0.3}]},
        }  # fmt: skip
        assert fairness_text(body) == "group: parity_diff=0.120 equal_opportunity_diff=0.300"
