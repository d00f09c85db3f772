"""The admin listener: health, readiness, Prometheus metrics and the JSON API under /api/v1/.

Read-only endpoints (`/healthz`, `/readyz`, `/metrics`) are always open for probes and
scrapers. Nothing here is reachable through the proxy port.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client.exposition import choose_encoder
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sidecar import __version__

if TYPE_CHECKING:
    from sidecar.runtime import Runtime


def build_admin_app(runtime: Runtime) -> Starlette:
    """The starlette app of the admin port."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": __version__})

    async def readyz(request: Request) -> Response:
        ready, detail = await runtime.upstream_ready()
        return JSONResponse({"ready": ready, "detail": detail}, status_code=200 if ready else 503)

    async def metrics(request: Request) -> Response:
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(runtime.telemetry.registry), media_type=content_type)

    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
    ]
    return Starlette(routes=routes)
