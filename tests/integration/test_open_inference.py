"""Binary tensors, Triton's versioned path and model metadata through a real sidecar.

The upstream is a small in-repo v2 server (starlette on 127.0.0.1) that reads binary requests
and answers with binary outputs and `Inference-Header-Content-Length`, as Triton does, and
serves model metadata; tests/heavy/test_kserve.py runs the same checks against KServe itself.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from servers import running_sidecar, serve_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

HEADER = "inference-header-content-length"
METADATA = {
    "name": "clf",
    "versions": ["1"],
    "platform": "test",
    "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 2]}],
    "outputs": [
        {"name": "proba", "datatype": "FP32", "shape": [-1, 2]},
        {"name": "label", "datatype": "BYTES", "shape": [-1]},
    ],
}


def _sized(raw: bytes) -> dict[str, int]:
    return {"binary_data_size": len(raw)}


def _split(body: bytes, length: str | None) -> tuple[dict[str, object], bytes]:
    cut = int(length) if length is not None else len(body)
    return json.loads(body[:cut]), body[cut:]


async def _infer(request: Request) -> Response:
    """Sigmoid scores of `x.sum()`, answered as binary `label` then `proba`."""
    header, tail = _split(await request.body(), request.headers.get(HEADER))
    (spec,) = header["inputs"]  # type: ignore[misc]
    x = np.frombuffer(tail, "<f4").reshape(spec["shape"])  # type: ignore[index]
    p1 = 1 / (1 + np.exp(-x.sum(axis=1)))
    proba = np.stack([1 - p1, p1], axis=1).astype("<f4").tobytes()
    labels = b"".join(
        struct.pack("<I", len(t)) + t for t in (b"yes" if p > 0.5 else b"no" for p in p1)
    )
    rows = len(p1)
    outputs = [
        {"name": "label", "datatype": "BYTES", "shape": [rows], "parameters": _sized(labels)},
        {"name": "proba", "datatype": "FP32", "shape": [rows, 2], "parameters": _sized(proba)},
    ]
    head = json.dumps({"model_name": "clf", "model_version": "1", "outputs": outputs}).encode()
    return Response(
        head + labels + proba,
        media_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": str(len(head))},
    )


METADATA_HOSTS: list[str] = []
"""Host headers of the metadata requests the upstream received."""


async def _metadata(request: Request) -> Response:
    METADATA_HOSTS.append(request.headers.get("host", ""))
    if request.path_params["name"] != "clf":
        return JSONResponse({"error": "unknown model"}, status_code=404)
    return JSONResponse(METADATA)


def _v2_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/v2/models/{name}/versions/{version}/infer", _infer, methods=["POST"]),
            Route("/v2/models/{name}/infer", _infer, methods=["POST"]),
            Route("/v2/models/{name}/versions/{version}", _metadata),
            Route("/v2/models/{name}", _metadata),
        ]
    )


@pytest.fixture(scope="module")
def v2_upstream() -> Iterator[str]:
    with serve_app(_v2_app()) as server:
        yield server.url


def _binary_request(x: np.ndarray) -> tuple[bytes, dict[str, str]]:
    raw = x.astype("<f4").tobytes()
    spec = {"name": "x", "datatype": "FP32", "shape": list(x.shape), "parameters": _sized(raw)}
    head = json.dumps(
        {"inputs": [spec], "outputs": [{"name": "proba", "parameters": {"binary_data": True}}]}
    ).encode()
    return head + raw, {HEADER: str(len(head)), "content-type": "application/octet-stream"}


class TestBinaryThroughTheSidecar:
    def test_binary_pairs_decode_under_the_versioned_model(self, v2_upstream: str) -> None:
        """Binary requests and responses on /versions/1/infer decode with no error, under the
        model key clf@1, with the metadata's first output as the prediction."""
        x = np.random.default_rng(3).normal(size=(6, 2))
        body, headers = _binary_request(x)
        with running_sidecar(v2_upstream) as sc:
            answers = [
                httpx.post(
                    sc.url + "/v2/models/clf/versions/1/infer", content=body, headers=headers
                )
                for _ in range(5)
            ]
            assert sc.runtime.worker.wait_idle(20)
            monitor = sc.runtime.monitor
            drift = httpx.get(sc.admin_url + "/api/v1/drift?model=clf@1").json()
            metrics = httpx.get(sc.admin_url + "/metrics").text
            fetches = +sc.runtime.model_metadata.fetches
        direct = httpx.post(
            v2_upstream + "/v2/models/clf/versions/1/infer", content=body, headers=headers
        )
        assert all(a.content == direct.content for a in answers)
        assert answers[0].headers[HEADER] == direct.headers[HEADER]
        assert monitor.counters().decode_errors == {}
        assert set(monitor.counters().rows) == {"clf@1"}
        assert monitor.counters().rows["clf@1"] == 30
        assert set(drift["features"]) == {"x.0", "x.1"}
        assert {"prediction", "probability", "label"} <= set(drift["predictions"])
        assert drift["predictions"]["prediction"]["kind"] == "categorical"
        assert fetches == {"ok": 1}
        assert 'sidecar_model_metadata_fetches_total{outcome="ok"} 1.0' in metrics
        assert 'sidecar_model_metadata_fetches_total{outcome="timeout"} 0.0' in metrics

    def test_unknown_model_metadata_is_counted_and_names_stay(self, v2_upstream: str) -> None:
        """A model the server has no metadata for decodes with its own names; the failed
        fetch is counted as an HTTP error once."""
        x = np.ones((2, 2))
        body, headers = _binary_request(x)
        with running_sidecar(v2_upstream) as sc:
            for _ in range(3):
                httpx.post(sc.url + "/v2/models/other/infer", content=body, headers=headers)
            assert sc.runtime.worker.wait_idle(20)
            monitor = sc.runtime.monitor
            fetches = +sc.runtime.model_metadata.fetches
        assert monitor.counters().decode_errors == {}
        assert monitor.counters().rows["other"] == 6
        assert fetches == {"http_error": 1}

    def test_metadata_request_carries_the_configured_host(self, v2_upstream: str) -> None:
        """With upstream_host_header set, the metadata GET sends that Host, as proxied calls do."""
        body, headers = _binary_request(np.ones((1, 2)))
        METADATA_HOSTS.clear()
        with running_sidecar(v2_upstream, upstream_host_header="clf.models.internal") as sc:
            httpx.post(sc.url + "/v2/models/clf/infer", content=body, headers=headers)
            assert sc.runtime.worker.wait_idle(20)
            fetches = +sc.runtime.model_metadata.fetches
        assert METADATA_HOSTS == ["clf.models.internal"] and fetches == {"ok": 1}
