"""The admin API end to end: drift flags exactly the shifted features, labels join exactly."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import numpy as np
import pytest
from fairlearn.metrics import demographic_parity_difference
from servers import ThreadedUvicorn, running_sidecar
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

from sidecar.reference.builder import ProfileBuilder
from sidecar.reference.profile import save_reference

FEATURES = ("x0", "x1", "x2", "x3")


def _rows(rng: np.random.Generator, n: int, shift: dict[str, float]) -> list[dict[str, Any]]:
    columns = {name: rng.normal(0.0, 1.0, n) + shift.get(name, 0.0) for name in FEATURES}
    colours = rng.choice(["red", "green", "blue"], n, p=shift.get("colour_p", [0.4, 0.4, 0.2]))
    return [
        {**{k: float(v[i]) for k, v in columns.items()}, "colour": str(colours[i])}
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def reference_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reference profile of 20,000 seeded rows: four normal features and a colour."""
    rng = np.random.default_rng(11)
    rows = _rows(rng, 20_000, {})
    builder = ProfileBuilder(categorical=["colour"])
    builder.add({k: [r[k] for r in rows] for k in rows[0]})
    if builder.needs_second_pass:
        builder.start_counting()
        builder.add({k: [r[k] for r in rows] for k in rows[0]})
    path = tmp_path_factory.mktemp("ref") / "reference.json"
    save_reference(builder.build(), path)
    return path


async def _post_all(url: str, bodies: Sequence[tuple[str, dict[str, str], bytes]]) -> None:
    connector = aiohttp.TCPConnector(limit=16)
    async with aiohttp.ClientSession(connector=connector) as session:
        queue = list(reversed(bodies))

        async def worker() -> None:
            while queue:
                path, headers, body = queue.pop()
                async with session.post(url + path, data=body, headers=headers) as response:
                    await response.read()
                    assert response.status == 200

        await asyncio.gather(*(worker() for _ in range(16)))


def _instances(rows: list[dict[str, Any]]) -> bytes:
    return json.dumps({"instances": rows}).encode()


class TestDriftEndToEnd:
    def test_exactly_the_shifted_features_are_flagged(
        self, upstream: ThreadedUvicorn, reference_path: Path
    ) -> None:
        """Model `steady` gets reference-like rows, model `shifted` the same with x1, x3 and
        colour moved: drift is flagged for exactly those, and for nothing on `steady`."""
        rng = np.random.default_rng(5)
        shift = {"x1": 1.0, "x3": -0.8, "colour_p": [0.1, 0.2, 0.7]}
        bodies = []
        for _ in range(400):
            bodies.append(("/v1/models/steady:predict", {}, _instances(_rows(rng, 2, {}))))
            bodies.append(("/v1/models/shifted:predict", {}, _instances(_rows(rng, 2, shift))))
        with running_sidecar(upstream.url, reference=reference_path) as sc:
            asyncio.run(_post_all(sc.url, bodies))
            assert sc.runtime.worker.wait_idle(30)
            steady = httpx.get(sc.admin_url + "/api/v1/drift?model=steady").json()
            shifted = httpx.get(sc.admin_url + "/api/v1/drift?model=shifted&window=rolling").json()
            missing = httpx.get(sc.admin_url + "/api/v1/drift?model=nobody")
            bad = httpx.get(sc.admin_url + "/api/v1/drift?window=yesterday")
        assert {n: f["drift"] for n, f in steady["features"].items()} == {
            "x0": False,
            "x1": False,
            "x2": False,
            "x3": False,
            "colour": False,
        }
        assert {n: f["drift"] for n, f in shifted["features"].items()} == {
            "x0": False,
            "x1": True,
            "x2": False,
            "x3": True,
            "colour": True,
        }
        assert shifted["features"]["x1"]["count"] == 800
        assert shifted["features"]["x1"]["reference_count"] == 20_000
        assert shifted["dataset"] == {
            "drifted": 3,
            "total": 5,
            "share": 0.6,
            "threshold": 0.5,
            "required": 3,
            "drift": True,
        }
        assert steady["dataset"]["drift"] is False
        assert missing.status_code == 404 and bad.status_code == 400

    def test_reference_is_served_and_replaced(
        self, upstream: ThreadedUvicorn, reference_path: Path
    ) -> None:
        """GET returns the loaded profile; PUT with the admin token replaces it, without -> 401."""
        profile = json.loads(reference_path.read_text())
        with running_sidecar(upstream.url, admin_token="s3cret") as sc:
            assert httpx.get(sc.admin_url + "/api/v1/reference").status_code == 404
            refused = httpx.put(sc.admin_url + "/api/v1/reference", json=profile)
            accepted = httpx.put(
                sc.admin_url + "/api/v1/reference",
                json=profile,
                headers={"authorization": "Bearer s3cret"},
            )
            broken = httpx.put(
                sc.admin_url + "/api/v1/reference",
                json={"format": "x"},
                headers={"authorization": "Bearer s3cret"},
            )
            served = httpx.get(sc.admin_url + "/api/v1/reference").json()
        assert refused.status_code == 401
        assert accepted.status_code == 200 and accepted.json()["features"] == 5
        assert broken.status_code == 400
        assert served["features"].keys() == profile["features"].keys()


class TestLabelsEndToEnd:
    def test_delayed_labels_give_exact_counts_and_metrics(self, upstream: ThreadedUvicorn) -> None:
        """5,000 requests, labels posted later in shuffled batches with duplicates and unknown
        ids: counts are exact and the figures equal scikit-learn's and fairlearn's."""
        rng = np.random.default_rng(3)
        shuffle = random.Random(3)
        requests = []
        for i in range(5_000):
            row = _rows(rng, 1, {})[0]
            group = "A" if i % 3 else "B"
            requests.append((f"req-{i}", group, row))
        bodies = [
            (
                "/v1/models/credit:predict",
                {"x-request-id": rid, "x-group": group},
                _instances([row]),
            )
            for rid, group, row in requests
        ]
        predicted = [int(row["x0"] > 0) for _, _, row in requests]
        # Labels agree with the toy model 80% of the time.
        labels = [p if rng.random() < 0.8 else 1 - p for p in predicted]
        items = [
            {"request_id": rid, "label": y} for (rid, _, _), y in zip(requests, labels, strict=True)
        ]
        duplicates = [dict(item) for item in items[:250]]
        unknown = [{"request_id": f"nope-{i}", "label": 1} for i in range(100)]
        posted = items + duplicates + unknown
        shuffle.shuffle(posted)
        config = {
            "fairness": {"attributes": ["header:X-Group"], "favourable": 1},
            "performance": {"task": "classification"},
        }
        path = Path(self._config_dir(config))
        with running_sidecar(upstream.url, config=path) as sc:
            asyncio.run(_post_all(sc.url, bodies))
            assert sc.runtime.worker.wait_idle(30)
            totals = {"matched": 0, "unknown": 0, "duplicate": 0, "invalid": 0}
            for start in range(0, len(posted), 1_000):
                answer = httpx.post(
                    sc.admin_url + "/api/v1/feedback", json=posted[start : start + 1_000]
                ).json()
                totals = {k: totals[k] + answer[k] for k in totals}
            performance = httpx.get(sc.admin_url + "/api/v1/performance?window=rolling").json()
            fairness = httpx.get(sc.admin_url + "/api/v1/fairness?window=rolling").json()
        # A duplicate posted before its original counts as the match, the original as duplicate.
        assert totals == {"matched": 5_000, "unknown": 100, "duplicate": 250, "invalid": 0}
        figures = performance["performance"]
        assert figures["labelled_rows"] == 5_000
        y_true, y_pred = [str(y) for y in labels], [str(p) for p in predicted]
        assert figures["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred), abs=1e-12)
        assert figures["f1_macro"] == pytest.approx(
            f1_score(y_true, y_pred, average="macro"), abs=1e-12
        )
        assert figures["precision_macro"] == pytest.approx(
            precision_score(y_true, y_pred, average="macro"), abs=1e-12
        )
        assert figures["recall_macro"] == pytest.approx(
            recall_score(y_true, y_pred, average="macro"), abs=1e-12
        )
        groups = [g for _, g, _ in requests]
        attribute = fairness["fairness"]["attributes"][0]
        assert attribute["attribute"] == "header:x-group"
        assert attribute["demographic_parity_difference"] == pytest.approx(
            demographic_parity_difference(labels, predicted, sensitive_features=groups), abs=1e-12
        )

    @staticmethod
    def _config_dir(config: dict[str, Any]) -> str:
        import tempfile

        import yaml

        handle = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
        with handle:
            yaml.safe_dump(config, handle)
        return handle.name

    def test_feedback_errors_have_clear_statuses(self, sidecar: Any) -> None:
        """Malformed JSON is 400; more than 10,000 items is 413; nothing is stored."""
        bad = httpx.post(sidecar.admin_url + "/api/v1/feedback", content=b"{not json")
        huge = httpx.post(
            sidecar.admin_url + "/api/v1/feedback",
            json=[{"request_id": str(i), "label": 1} for i in range(10_001)],
        )
        assert bad.status_code == 400 and bad.json()["error"] == "invalid_feedback"
        assert huge.status_code == 413 and huge.json()["error"] == "too_large"


class TestBootstrapReference:
    def test_first_live_rows_become_the_reference_and_are_saved(
        self, upstream: ThreadedUvicorn, tmp_path: Path
    ) -> None:
        """With `reference: bootstrap`, the first N rows build the profile, which is served,
        saved in the state directory and used for drift from then on."""
        config = tmp_path / "sidecar.yaml"
        config.write_text("reference: bootstrap\nreference_bootstrap:\n  rows: 2000\n")
        rng = np.random.default_rng(8)
        first = [("/v1/models/m:predict", {}, _instances(_rows(rng, 4, {}))) for _ in range(500)]
        later = [
            ("/v1/models/m:predict", {}, _instances(_rows(rng, 4, {"x2": 2.0}))) for _ in range(500)
        ]
        state = tmp_path / "state"
        state.mkdir()
        with running_sidecar(upstream.url, config=config, state_dir=state) as sc:
            asyncio.run(_post_all(sc.url, first))
            assert sc.runtime.worker.wait_idle(30)
            served = httpx.get(sc.admin_url + "/api/v1/reference").json()
            asyncio.run(_post_all(sc.url, later))
            assert sc.runtime.worker.wait_idle(30)
            drift = httpx.get(sc.admin_url + "/api/v1/drift").json()
        assert served["rows"] == 2000
        assert set(served["features"]) == {*FEATURES, "colour"}
        assert json.loads((state / "reference.json").read_text())["rows"] == 2000
        assert drift["features"]["x2"]["drift"] is True
        assert drift["features"]["x0"]["drift"] is False
