"""The admin listener: health, readiness, Prometheus metrics and the JSON API under /api/v1/.

Read-only endpoints are open for probes, scrapers and dashboards. Endpoints that change state
(`PUT /api/v1/reference`, `POST /api/v1/feedback`) require `Authorization: Bearer <token>` when
an admin token is configured, compared in constant time. Bodies are bounded: feedback
`MAX_FEEDBACK_BYTES` (16 MiB), reference uploads `MAX_REFERENCE_BYTES` (64 MiB); larger -> 413.
Nothing here is reachable through the proxy port. The page at `GET /` and `GET /api/v1/history`
come from `sidecar.page.routes`.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from prometheus_client.exposition import choose_encoder
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sidecar import __version__, reports
from sidecar.outcomes.feedback import FeedbackTooLarge
from sidecar.page import PageSources
from sidecar.page.routes import page_routes
from sidecar.reference.profile import ReferenceProfile
from sidecar.signals.status import status_report

if TYPE_CHECKING:
    from sidecar.monitor import Monitor
    from sidecar.runtime import Runtime

MAX_FEEDBACK_BYTES = 16 << 20
MAX_REFERENCE_BYTES = 64 << 20

Endpoint = Callable[[Request], Awaitable[Response]]


def error(status: int, code: str, detail: str) -> JSONResponse:
    """The JSON error body every admin endpoint uses."""
    return JSONResponse({"error": code, "detail": detail}, status_code=status)


async def read_bounded(request: Request, limit: int) -> bytes | None:
    """The request body, or None once it exceeds `limit` bytes (checked while reading)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
    return b"".join(parts)


NESTING_DETAIL = "the JSON body is nested too deeply to parse"


def _replace_reference(monitor: Monitor, body: bytes) -> ReferenceProfile:
    """Parse a reference profile and make it the monitor's (ValueError for a bad body)."""
    try:
        profile = ReferenceProfile.from_dict(json.loads(body))
    except RecursionError:
        raise ValueError(NESTING_DETAIL) from None
    monitor.set_reference(profile)
    return profile


def build_admin_app(runtime: Runtime) -> Starlette:
    """The starlette app of the admin port."""
    monitor = runtime.monitor
    policy = runtime.status_sources.policy
    token = runtime.admin_token

    def authorised(handler: Endpoint) -> Endpoint:
        async def guarded(request: Request) -> Response:
            if token is not None:
                # The scheme is case-insensitive (RFC 9110 11.1); the token is compared exactly.
                scheme, _, given = request.headers.get("authorization", "").partition(" ")
                if scheme.lower() != "bearer" or not hmac.compare_digest(
                    given.strip().encode(), token.encode()
                ):
                    return error(
                        401,
                        "unauthorized",
                        "this endpoint needs Authorization: Bearer <admin token>",
                    )
            return await handler(request)

        return guarded

    def report(build: Callable[..., dict[str, Any]]) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            which = request.query_params.get("window", "current")
            model = request.query_params.get("model")
            try:
                body = await run_in_threadpool(build, monitor, policy, model, which, time.time())
            except ValueError as exc:
                return error(400, "bad_request", str(exc))
            except reports.UnknownModel as exc:
                return error(404, "no_data", f"no sampled traffic yet for {exc.args[0]}")
            return JSONResponse(body)

        return endpoint

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": __version__})

    async def readyz(request: Request) -> Response:
        ready, detail = await runtime.upstream_ready()
        return JSONResponse({"ready": ready, "detail": detail}, status_code=200 if ready else 503)

    async def metrics(request: Request) -> Response:
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        openmetrics = content_type.startswith("application/openmetrics-text")
        body = await run_in_threadpool(runtime.telemetry.exposition, encoder, openmetrics)
        return Response(body, media_type=content_type)

    async def status(request: Request) -> Response:
        which = request.query_params.get("window", "current")
        try:
            built = await run_in_threadpool(
                status_report, runtime.status_sources, time.time(), which
            )
        except ValueError as exc:
            return error(400, "bad_request", str(exc))
        return JSONResponse(built.to_json())

    async def get_reference(request: Request) -> Response:
        if monitor.reference is None:
            return error(404, "no_reference", "no reference profile is loaded")
        return JSONResponse(monitor.reference.to_dict())

    async def put_reference(request: Request) -> Response:
        body = await read_bounded(request, MAX_REFERENCE_BYTES)
        if body is None:
            return error(
                413, "too_large", f"reference profiles are limited to {MAX_REFERENCE_BYTES} bytes"
            )
        try:
            # Parsing a large profile and taking the monitor's lock stay off the event loop.
            profile = await run_in_threadpool(_replace_reference, monitor, body)
        except ValueError as exc:
            return error(400, "invalid_reference", str(exc))
        return JSONResponse(
            {
                "status": "replaced",
                "features": len(profile.features),
                "predictions": len(profile.predictions),
            }
        )

    async def feedback(request: Request) -> Response:
        body = await read_bounded(request, MAX_FEEDBACK_BYTES)
        if body is None:
            return error(
                413,
                "too_large",
                f"feedback bodies are limited to {MAX_FEEDBACK_BYTES} bytes; send smaller batches",
            )
        try:
            result = await run_in_threadpool(monitor.feedback, body, time.time())
        except FeedbackTooLarge as exc:
            return error(413, "too_large", str(exc))
        except ValueError as exc:
            return error(400, "invalid_feedback", str(exc))
        except RecursionError:
            return error(400, "invalid_feedback", NESTING_DETAIL)
        return JSONResponse(result.to_json())

    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Route("/api/v1/drift", report(reports.drift_json)),
        Route("/api/v1/quality", report(reports.quality_json)),
        Route("/api/v1/performance", report(reports.performance_json)),
        Route("/api/v1/fairness", report(reports.fairness_json)),
        Route("/api/v1/status", status),
        Route("/api/v1/reference", get_reference, methods=["GET"]),
        Route("/api/v1/reference", authorised(put_reference), methods=["PUT"]),
        Route("/api/v1/feedback", authorised(feedback), methods=["POST"]),
        *page_routes(
            PageSources(runtime.status_sources, runtime.history, runtime.settings.window_seconds)
        ),
    ]
    return Starlette(routes=routes)
