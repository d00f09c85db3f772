"""docs/metrics.md and the exported metrics agree: every exported name is catalogued and every
catalogued name is exported by a sidecar that has seen traffic, labels and a fairness config."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from model_traffic import PATH
from servers import SidecarHandle, running_sidecar, serve_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sidecar.profile_builder import ProfileBuilder
from sidecar.reference import save_reference
from sidecar.telemetry import metric_names

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "docs" / "metrics.md"
REQUESTS = 60


async def _probabilities(request: Request) -> Response:
    """A classifier answering a probability vector per row, P(1) = sigmoid(x0)."""
    rows = (await request.json())["instances"]
    scores = [1.0 / (1.0 + math.exp(-float(r["x0"]))) for r in rows]
    return JSONResponse({"predictions": [[1.0 - p, p] for p in scores]})


def _rows(rng: np.random.Generator, n: int) -> list[dict[str, object]]:
    x0 = rng.normal(size=n)
    colours = rng.choice(["red", "blue"], n)
    return [{"x0": float(x0[i]), "colour": str(colours[i])} for i in range(n)]


def _reference(directory: Path) -> Path:
    data = _rows(np.random.default_rng(4), 2_000)
    builder = ProfileBuilder(prediction="pred")
    builder.add(
        {
            "x0": [r["x0"] for r in data],
            "colour": [r["colour"] for r in data],
            "pred": [str(int(float(r["x0"]) > 0)) for r in data],  # type: ignore[arg-type]
        }
    )
    path = directory / "reference.json"
    save_reference(builder.build(), path)
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[set[str]]:
    """Metric family names of a sidecar after predictions, a bad payload and labels."""
    directory = tmp_path_factory.mktemp("catalogue")
    config = directory / "sidecar.yaml"
    config.write_text(
        json.dumps(
            {
                "fairness": {"attributes": ["colour"], "favourable": "1", "min_group_size": 5},
                "performance": {"min_count": 10},
            }
        )
    )
    app = Starlette(
        routes=[Route(PATH.replace("iris", "{name}"), _probabilities, methods=["POST"])]
    )
    rng = np.random.default_rng(9)
    with (
        serve_app(app) as upstream,
        running_sidecar(
            upstream.url,
            reference=_reference(directory),
            config=config,
            analysis_cpu_share=1.0,
            window_seconds=3600,
        ) as sc,
    ):
        labels = _send(sc, rng)
        assert sc.runtime.worker.wait_idle(30)
        answer = httpx.post(sc.admin_url + "/api/v1/feedback", json=labels)
        assert answer.status_code == 200, answer.text
        yield set(metric_names(sc.runtime.telemetry.registry))


def _send(sc: SidecarHandle, rng: np.random.Generator) -> list[dict[str, object]]:
    """Labelled traffic (request ids known), plus one undecodable payload."""
    labels: list[dict[str, object]] = []
    with httpx.Client(base_url=sc.url, timeout=10) as client:
        for i in range(REQUESTS):
            rows = _rows(rng, 4)
            answer = client.post(PATH, json={"instances": rows}, headers={"x-request-id": f"r{i}"})
            assert answer.status_code == 200
            truth = [str(int(float(str(r["x0"])) > 0)) for r in rows]
            labels.append({"request_id": f"r{i}", "labels": truth})
        client.post(
            PATH, content=b'{"instances": [[1, 2]', headers={"content-type": "application/json"}
        )
    return labels


def _catalogued() -> set[str]:
    """Names in the first column of the catalogue's tables."""
    return set(re.findall(r"^\| `([a-z_:]+)` \|", CATALOGUE.read_text(), re.M))


def _family(name: str) -> str:
    """prometheus_client's family name of a catalogued sample name (counters lose `_total`)."""
    return name.removesuffix("_total")


class TestMetricsCatalogue:
    def test_every_exported_name_is_catalogued(self, exported: set[str]) -> None:
        """No exported metric family is missing from docs/metrics.md."""
        catalogued = {_family(n) for n in _catalogued()}
        assert exported - catalogued == set()

    def test_every_catalogued_name_is_exported(self, exported: set[str]) -> None:
        """Every metric docs/metrics.md lists is exported by a sidecar with traffic and labels."""
        missing = {n for n in _catalogued() if _family(n) not in exported}
        assert missing == set()

    def test_the_catalogue_is_not_empty(self) -> None:
        """The table parser finds the catalogue (so the two tests above can fail)."""
        assert len(_catalogued()) >= 30
