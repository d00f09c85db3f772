"""Route templates and model names from request paths, as bounded labels.

`route_template` maps any path to one of eight fixed strings, so it is safe as a metric label;
`detect_model` returns at most `MAX_MODEL_CHARS` (128) characters of a name found in the path
(`/v2/models/{name}[/versions/{v}]/infer`, `/v1/models/{name}:predict`) or in an OpenAI body
(`model`). `model_label` adds a v2 path's version as `name@version` (the model key of windows
and series). `is_analysed` is False for the protocol's other v2 endpoints (repository, health,
metadata, statistics, shared memory, logging, trace), which pass through unanalysed. Bounding
the number of distinct model names is the telemetry layer's job.
"""

from __future__ import annotations

import re

DEFAULT_MODEL = "default"
MAX_MODEL_CHARS = 128

ROUTE_V2 = "/v2/models/{model}/infer"
ROUTE_V2_VERSION = "/v2/models/{model}/versions/{version}/infer"
ROUTE_V1 = "/v1/models/{model}:predict"
ROUTE_MLFLOW = "/invocations"
ROUTE_CHAT = "/v1/chat/completions"
ROUTE_COMPLETIONS = "/v1/completions"
ROUTE_EMBEDDINGS = "/v1/embeddings"
ROUTE_OTHER = "other"

ROUTE_PROTOCOLS = {
    ROUTE_V2: "open_inference",
    ROUTE_V2_VERSION: "open_inference",
    ROUTE_V1: "kserve_v1",
    ROUTE_MLFLOW: "mlflow",
    ROUTE_CHAT: "openai",
    ROUTE_COMPLETIONS: "openai",
    ROUTE_EMBEDDINGS: "openai",
}
"""The protocol each known route speaks, for detection by path."""

_V2 = re.compile(r"^/v2/models/(?P<model>[^/]+)(?:/versions/(?P<version>[^/]+))?/infer$")
_V2_INFERENCE = ("/infer", "/generate", "/generate_stream")
"""v2 paths ending so are inference calls; other v2 paths are control-plane endpoints."""
_V1 = re.compile(r"^/v1/models/(?P<model>[^/:]+)(?:/versions/[^/:]+|/labels/[^/:]+)?:predict$")
_OPENAI_ROUTES = (ROUTE_CHAT, ROUTE_COMPLETIONS, ROUTE_EMBEDDINGS)


def route_template(path: str) -> str:
    """The route label of a path: a model route template, or "other"."""
    path = path.rstrip("/")
    v2 = _V2.match(path)
    if v2:
        return ROUTE_V2 if v2.group("version") is None else ROUTE_V2_VERSION
    if _V1.match(path):
        return ROUTE_V1
    if path == ROUTE_MLFLOW:
        return ROUTE_MLFLOW
    for route in _OPENAI_ROUTES:
        # Gateways often mount OpenAI-compatible servers under a prefix (/openai/v1/...).
        if path.endswith(route):
            return route
    return ROUTE_OTHER


def protocol_for_path(path: str) -> str | None:
    """The protocol a path implies, or None when the path alone does not say."""
    return ROUTE_PROTOCOLS.get(route_template(path))


def detect_model(path: str, request: object = None) -> str:
    """The model name in the path or in an OpenAI-style body `model`, else "default"."""
    path = path.rstrip("/")
    found = _V2.match(path) or _V1.match(path)
    if found:
        return found.group("model")[:MAX_MODEL_CHARS]
    if isinstance(request, dict):
        model = request.get("model")
        if isinstance(model, str) and model:
            return model[:MAX_MODEL_CHARS]
    return DEFAULT_MODEL


def detect_version(path: str) -> str | None:
    """The version segment of a v2 inference path, or None."""
    found = _V2.match(path.rstrip("/"))
    return None if found is None else found.group("version")


def model_label(path: str, request: object = None) -> str:
    """The model key: `detect_model`, with a v2 path's version as `name@version`."""
    model = detect_model(path, request)
    version = detect_version(path)
    if version is None:
        return model
    return f"{model}@{version}"[:MAX_MODEL_CHARS]


def is_analysed(path: str) -> bool:
    """Whether requests to `path` carry payloads to analyse (not a v2 control-plane call)."""
    path = path.rstrip("/")
    if path != "/v2" and not path.startswith("/v2/"):
        return True
    return path.endswith(_V2_INFERENCE)
