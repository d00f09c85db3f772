"""Seeded reference profiles and model traffic for the metrics tests (Prometheus, OTLP, fleet)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from sidecar.reference.builder import ProfileBuilder
from sidecar.reference.profile import save_reference

FEATURES = ("x0", "x1", "x2")
PATH = "/v1/models/iris:predict"


def rows(seed: int, n: int, shift: float = 0.0) -> list[dict[str, Any]]:
    """`n` rows: three normal features (x1 shifted by `shift`) and a colour."""
    rng = np.random.default_rng(seed)
    columns = {name: rng.normal(0.0, 1.0, n) for name in FEATURES}
    columns["x1"] = columns["x1"] + shift
    colours = rng.choice(["red", "green", "blue"], n, p=[0.4, 0.4, 0.2])
    return [
        {**{k: float(v[i]) for k, v in columns.items()}, "colour": str(colours[i])}
        for i in range(n)
    ]


def write_reference(directory: Path, n: int = 5_000, seed: int = 11) -> Path:
    """A reference profile of `n` seeded rows saved as JSON under `directory`."""
    data = rows(seed, n)
    builder = ProfileBuilder(categorical=["colour"])
    builder.add({k: [r[k] for r in data] for k in data[0]})
    if builder.needs_second_pass:
        builder.start_counting()
        builder.add({k: [r[k] for r in data] for k in data[0]})
    path = directory / "reference.json"
    save_reference(builder.build(), path)
    return path


def bodies(data: Sequence[dict[str, Any]], per_request: int = 4) -> list[bytes]:
    """KServe v1 request bodies of `per_request` rows each."""
    return [
        json.dumps({"instances": list(data[i : i + per_request])}).encode()
        for i in range(0, len(data), per_request)
    ]


async def _post_all(url: str, payloads: Sequence[bytes], headers: dict[str, str]) -> None:
    connector = aiohttp.TCPConnector(limit=8)
    async with aiohttp.ClientSession(connector=connector) as session:
        queue = list(reversed(payloads))

        async def worker() -> None:
            while queue:
                body = queue.pop()
                async with session.post(url + PATH, data=body, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        raise AssertionError(f"status {response.status}")

        await asyncio.gather(*(worker() for _ in range(8)))


def post_all(url: str, payloads: Sequence[bytes], headers: dict[str, str] | None = None) -> None:
    """POST every body to the model route of `url`, 8 at a time."""
    asyncio.run(_post_all(url, payloads, {"content-type": "application/json", **(headers or {})}))
