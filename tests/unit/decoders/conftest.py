"""Fixtures for the decoder tests: captured pairs built from JSON values or raw bytes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from sidecar.records import Captured

CapturedFactory = Callable[..., Captured]


def encode(body: object) -> bytes:
    """Bytes stay bytes; anything else is serialised as JSON."""
    return body if isinstance(body, bytes) else json.dumps(body).encode()


@pytest.fixture
def captured() -> CapturedFactory:
    """A factory for `Captured` pairs: path, request and response (JSON values or bytes)."""

    def make(path: str, request: object, response: object = b"", **fields: Any) -> Captured:
        return Captured(
            request_id="r1",
            method="POST",
            path=path,
            query="",
            status=fields.pop("status", 200),
            request_headers=fields.pop("request_headers", ()),
            request_body=encode(request),
            response_body=encode(response),
            started=1_700_000_000.0,
            duration=0.25,
            **fields,
        )

    return make
