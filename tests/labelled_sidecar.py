"""A sidecar that exports every metric family: a probability-answering classifier behind it, a
reference with a prediction column, a fairness attribute, delayed labels and a bad payload."""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
from model_traffic import PATH
from servers import SidecarHandle, running_sidecar, serve_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sidecar.reference.builder import ProfileBuilder
from sidecar.reference.profile import save_reference

REQUESTS = 60


async def _probabilities(request: Request) -> Response:
    """A classifier answering a probability vector per row, P(1) = sigmoid(x0)."""
    rows = (await request.json())["instances"]
    scores = [1.0 / (1.0 + math.exp(-float(r["x0"]))) for r in rows]
    return JSONResponse({"predictions": [[1.0 - p, p] for p in scores]})


def _rows(rng: np.random.Generator, n: int) -> list[dict[str, float | str]]:
    x0 = rng.normal(size=n)
    colours = rng.choice(["red", "blue"], n)
    return [{"x0": float(x0[i]), "colour": str(colours[i])} for i in range(n)]


def _truth(row: dict[str, float | str]) -> str:
    return str(int(float(row["x0"]) > 0))


def _reference(directory: Path) -> Path:
    data = _rows(np.random.default_rng(4), 2_000)
    builder = ProfileBuilder(prediction="pred")
    builder.add(
        {
            "x0": [r["x0"] for r in data],
            "colour": [r["colour"] for r in data],
            "pred": [_truth(r) for r in data],
        }
    )
    path = directory / "reference.json"
    save_reference(builder.build(), path)
    return path


def send_labelled(sc: SidecarHandle, seed: int, requests: int = REQUESTS) -> None:
    """Labelled traffic (request ids known, labels posted after), plus one bad payload."""
    rng = np.random.default_rng(seed)
    labels: list[dict[str, object]] = []
    with httpx.Client(base_url=sc.url, timeout=10) as client:
        for i in range(requests):
            rows = _rows(rng, 4)
            rid = f"s{seed}-r{i}"
            answer = client.post(PATH, json={"instances": rows}, headers={"x-request-id": rid})
            assert answer.status_code == 200
            labels.append({"request_id": rid, "labels": [_truth(r) for r in rows]})
        bad = b'{"instances": [[1, 2]'
        client.post(PATH, content=bad, headers={"content-type": "application/json"})
    assert sc.runtime.worker.wait_idle(30)
    answer = httpx.post(sc.admin_url + "/api/v1/feedback", json=labels)
    assert answer.status_code == 200, answer.text


@contextlib.contextmanager
def labelled_sidecar(directory: Path) -> Iterator[SidecarHandle]:
    """The sidecar in front of the probability classifier, with fairness and performance config."""
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
    with (
        serve_app(app) as upstream,
        running_sidecar(
            upstream.url,
            reference=_reference(directory),
            config=config,
            window_seconds=3600,
        ) as sc,
    ):
        yield sc
