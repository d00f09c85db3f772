"""Bounded route labels and model names from request paths.

`route_template` maps any path to one of a fixed set of templates (or `other`), so the
`http.route` label has at most `len(ROUTES) + 1` values whatever the traffic.
"""

from __future__ import annotations

import re

ROUTES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^/v2/models/[^/]+(?:/versions/[^/]+)?/infer$"), "/v2/models/{model}/infer"),
    (re.compile(r"^/v2/models/[^/]+(?:/versions/[^/]+)?/ready$"), "/v2/models/{model}/ready"),
    (re.compile(r"^/v2/models/[^/]+(?:/versions/[^/]+)?$"), "/v2/models/{model}"),
    (re.compile(r"^/v2/health/(?:live|ready)$"), "/v2/health"),
    (re.compile(r"^/v1/models/[^/:]+(?:/versions/[^/:]+)?:predict$"), "/v1/models/{model}:predict"),
    (
        re.compile(r"^/v1/models/[^/:]+(?:/versions/[^/:]+)?:classify$"),
        "/v1/models/{model}:classify",
    ),
    (re.compile(r"^/v1/models/[^/:]+(?:/versions/[^/:]+)?:regress$"), "/v1/models/{model}:regress"),
    (re.compile(r"^/v1/models/[^/:]+$"), "/v1/models/{model}"),
    (re.compile(r"^/invocations$"), "/invocations"),
    (re.compile(r"^/v1/chat/completions$"), "/v1/chat/completions"),
    (re.compile(r"^/v1/completions$"), "/v1/completions"),
    (re.compile(r"^/v1/embeddings$"), "/v1/embeddings"),
    (re.compile(r"^/predict$"), "/predict"),
)

_MODEL = re.compile(r"^/v[12]/models/([^/:]+)")


def route_template(path: str) -> str:
    """The template of a known model-serving route, or `other`."""
    for pattern, template in ROUTES:
        if pattern.match(path):
            return template
    return "other"


def model_from_path(path: str) -> str:
    """The model name in a KServe/Open Inference path, or an empty string."""
    match = _MODEL.match(path)
    return match.group(1) if match else ""
