"""Shared fixtures: a real upstream and a real sidecar in front of it, on 127.0.0.1."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from servers import SidecarHandle, ThreadedUvicorn, running_sidecar, serve_app, upstream_app


@pytest.fixture(scope="module")
def upstream() -> Iterator[ThreadedUvicorn]:
    """The everyday test upstream (echo, raw, SSE, slow, cookies, status)."""
    with serve_app(upstream_app()) as server:
        yield server


@pytest.fixture(scope="module")
def sidecar(upstream: ThreadedUvicorn) -> Iterator[SidecarHandle]:
    """A sidecar in front of the test upstream."""
    with running_sidecar(upstream.url) as handle:
        yield handle
