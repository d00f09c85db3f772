"""The page's two admin routes: `GET /` (HTML) and `GET /api/v1/history` (JSON).

Both only read, so, like every GET of the admin port, they need no token. `GET /` takes
`?model=` (default: the busiest model), `?window=` (current, previous, rolling; default current)
and `?refresh=` (seconds between reloads, 0 = off; default the window length clamped to
[`MIN_REFRESH`, `MAX_REFRESH`] = [5, 60] s). A failure to gather or render answers 500 with a
plain-text message and a logged traceback; the rest of the admin app keeps answering.
"""

from __future__ import annotations

import gzip
import logging
import secrets
import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from sidecar.page.gather import PageSources, page_data
from sidecar.page.render import page_headers, render_page

log = logging.getLogger("sidecar.page")

MIN_REFRESH = 5
MAX_REFRESH = 60
LONGEST_REFRESH = 3600
COMPRESS_LEVEL = 6


def refresh_seconds(value: str | None, window_seconds: float) -> int:
    """`?refresh=` as whole seconds in [0, 3600]; the window-based default when absent or bad."""
    if value is not None and value.isdigit():
        return min(int(value), LONGEST_REFRESH)
    return int(min(max(window_seconds, MIN_REFRESH), MAX_REFRESH))


def _render(sources: PageSources, model: str | None, which: str, refresh: int, nonce: str) -> str:
    return render_page(page_data(sources, model, which, time.time()), nonce, refresh)


def page_routes(sources: PageSources) -> list[Route]:
    """`GET /` and `GET /api/v1/history` over `sources`."""

    async def page(request: Request) -> Response:
        params = request.query_params
        refresh = refresh_seconds(params.get("refresh"), sources.window_seconds)
        nonce = secrets.token_urlsafe(18)
        model, which = params.get("model") or None, params.get("window", "current")
        try:
            body = await run_in_threadpool(_render, sources, model, which, refresh, nonce)
        except ValueError as exc:
            return PlainTextResponse(f"bad request: {exc}\n", status_code=400)
        except Exception as exc:  # the page never takes the admin app down
            log.exception("the page at / failed to render")
            return PlainTextResponse(
                f"the page could not be rendered ({type(exc).__name__}); "
                "the JSON API under /api/v1/ still answers\n",
                status_code=500,
            )
        headers = page_headers(nonce)
        headers["vary"] = "accept-encoding"
        if "gzip" in request.headers.get("accept-encoding", ""):
            # SVG markup compresses ~10x; a page of 60 feature cards drops from ~500 kB.
            headers["content-encoding"] = "gzip"
            packed = await run_in_threadpool(gzip.compress, body.encode(), COMPRESS_LEVEL)
            return Response(packed, media_type="text/html; charset=utf-8", headers=headers)
        return HTMLResponse(body, headers=headers)

    async def history(request: Request) -> Response:
        model = request.query_params.get("model") or None
        monitor = sources.status.monitor
        counters = monitor.counters()
        known = {name for name, _ in counters.models}
        known.update(sources.history.models())
        if model is None:
            model = counters.busiest if counters.busiest is not None else min(known, default=None)
        if model is None or model not in known:
            detail = f"no sampled traffic yet for {model or 'any model'}"
            return JSONResponse({"error": "no_data", "detail": detail}, status_code=404)
        return JSONResponse(sources.history.to_json(model))

    return [Route("/", page, methods=["GET"]), Route("/api/v1/history", history, methods=["GET"])]
