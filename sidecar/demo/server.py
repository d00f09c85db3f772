"""The demo's model server: the toy classifier over KServe v1 and Open Inference Protocol v2.

Routes (model name `credit` by default; any other name answers 404):
- `POST /v1/models/{name}:predict` `{"instances": [{feature: value, ...}, ...]}` ->
  `{"predictions": [[p0, p1], ...]}` (probability vectors, which the decoders read as class and
  probability); `GET /v1/models/{name}` readiness;
- `POST /v2/models/{name}/infer` with one tensor per feature (shape [N] or [N, 1], FP64/INT64 or
  BYTES) -> one `probabilities` tensor [N, 2] FP64; `GET /v2/health/live`, `/v2/health/ready`,
  `/v2/models/{name}`, `/v2/models/{name}/ready`.
A malformed body answers 400 with `{"error": ...}` naming the problem. Each request is scored in
one vectorised call; memory is the request's own rows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sidecar.demo.model import FEATURES, MODEL_NAME, NUMERIC, LogisticModel

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
OUTPUT = "probabilities"


class BadRequest(ValueError):
    """A request body the model cannot score (HTTP 400)."""


def v1_predict(model: LogisticModel, body: object) -> dict[str, Any]:
    """Score a KServe v1 body of named-feature instances."""
    if not isinstance(body, dict) or not isinstance(body.get("instances"), list):
        raise BadRequest('body must be {"instances": [{feature: value, ...}, ...]}')
    instances = body["instances"]
    if not all(isinstance(row, dict) for row in instances):
        raise BadRequest("every instance must be an object of named features")
    return {"predictions": _score(model, instances).tolist()}


def v2_columns(body: object) -> dict[str, list[Any]]:
    """Named columns from Open Inference Protocol input tensors (one tensor per feature)."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise BadRequest('body must be {"inputs": [{"name", "shape", "datatype", "data"}, ...]}')
    columns: dict[str, list[Any]] = {}
    for tensor in body["inputs"]:
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise BadRequest("every input tensor needs a name")
        data = tensor.get("data")
        if not isinstance(data, list):
            raise BadRequest(f"tensor {tensor['name']!r} has no data list")
        columns[tensor["name"]] = [v[0] if isinstance(v, list) and len(v) == 1 else v for v in data]
    return columns


def v2_infer(model: LogisticModel, body: object, name: str) -> dict[str, Any]:
    """Score an Open Inference Protocol body; one probabilities tensor comes back."""
    columns = v2_columns(body)
    lengths = {len(values) for values in columns.values()}
    if len(lengths) != 1:
        raise BadRequest(f"input tensors have different lengths {sorted(lengths)}")
    scores = _score(model, columns)
    response: dict[str, Any] = {
        "model_name": name,
        "outputs": [
            {
                "name": OUTPUT,
                "shape": [int(scores.shape[0]), 2],
                "datatype": "FP64",
                "data": scores.ravel().tolist(),
            }
        ],
    }
    if isinstance(body, dict) and isinstance(body.get("id"), str):
        response["id"] = body["id"]
    return response


def _score(model: LogisticModel, rows: Any) -> np.ndarray[Any, Any]:
    """Probabilities rounded to 6 places, or BadRequest naming what was wrong."""
    try:
        return np.round(model.predict_proba(rows), 6)
    except (ValueError, TypeError) as exc:
        raise BadRequest(str(exc)) from None


def metadata(name: str) -> dict[str, Any]:
    """The v2 model metadata document."""
    inputs = [
        {"name": f, "datatype": "FP64" if f in NUMERIC else "BYTES", "shape": [-1]}
        for f in FEATURES
    ]
    return {
        "name": name,
        "platform": "numpy",
        "inputs": inputs,
        "outputs": [{"name": OUTPUT, "datatype": "FP64", "shape": [-1, 2]}],
    }


def build_model_app(model: LogisticModel, name: str = MODEL_NAME) -> Starlette:
    """The starlette app serving `model` under `name`."""

    async def read(request: Request) -> object:
        if request.path_params.get("name") != name:
            raise LookupError(request.path_params.get("name"))
        try:
            return json.loads(await request.body())
        except ValueError:
            raise BadRequest("body is not JSON") from None

    def guarded(handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            try:
                return JSONResponse(await handler(request))
            except BadRequest as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
            except LookupError as exc:
                return JSONResponse({"error": f"model {exc.args[0]!r} not found"}, 404)

        return endpoint

    async def predict(request: Request) -> Mapping[str, Any]:
        return v1_predict(model, await read(request))

    async def infer(request: Request) -> Mapping[str, Any]:
        return v2_infer(model, await read(request), name)

    async def v1_ready(request: Request) -> Mapping[str, Any]:
        if request.path_params["name"] != name:
            raise LookupError(request.path_params["name"])
        return {"name": name, "ready": True}

    async def v2_model(request: Request) -> Mapping[str, Any]:
        if request.path_params["name"] != name:
            raise LookupError(request.path_params["name"])
        return metadata(name)

    async def health(request: Request) -> Mapping[str, Any]:
        return {"live": True, "ready": True}

    return Starlette(
        routes=[
            Route("/v1/models/{name}:predict", guarded(predict), methods=["POST"]),
            Route("/v1/models/{name}", guarded(v1_ready)),
            Route("/v2/models/{name}/infer", guarded(infer), methods=["POST"]),
            Route("/v2/models/{name}/ready", guarded(v1_ready)),
            Route("/v2/models/{name}", guarded(v2_model)),
            Route("/v2/health/live", guarded(health)),
            Route("/v2/health/ready", guarded(health)),
        ]
    )


def model_server(
    app: Starlette, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT
) -> uvicorn.Server:
    """A quiet uvicorn server for the app (call `.run()` or `await .serve()`)."""
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, lifespan="off"
    )
    return uvicorn.Server(config)
