"""The admin port's page: one self-contained HTML document from the data `gather` collects.

No external fetch: styles, charts (inline SVG) and the one small script (auto-submitting the
model and window selectors) are in the document; `page_headers` gives the strict
Content-Security-Policy that forbids anything else (`default-src 'none'`, the script and the
style allowed by a per-response nonce, forms only to the page itself). Readable without
JavaScript: the selectors have a submit button and refreshing is a `<meta http-equiv="refresh">`
every `refresh` seconds (`?refresh=0` turns it off). A section that fails to draw is logged and
replaced by a one-line note; the rest of the page still renders.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from html import escape
from typing import Any
from urllib.parse import urlencode

from sidecar.history import mapping, number, text
from sidecar.page.columns import column_cards, output_over_time, show, summaries
from sidecar.page.outcomes import fairness_section, performance_section, traffic_section
from sidecar.page.style import SCRIPT, STYLE
from sidecar.page.svg import clock

log = logging.getLogger("sidecar.page")

SEVERITY = {"critical": 0, "warning": 1, "ok": 2, "unknown": 3}
WINDOWS = ("current", "previous", "rolling")
JSON_ENDPOINTS = ("status", "drift", "quality", "performance", "fairness", "history")


def page_headers(nonce: str) -> dict[str, str]:
    """Response headers of the page: a strict CSP allowing only its own inline parts."""
    policy = (
        "default-src 'none'; "
        f"script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; img-src 'self' data:; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
    return {
        "content-security-policy": policy,
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "cache-control": "no-store",
    }


def _safe(
    title: str, anchor: str, draw: Callable[[Mapping[str, Any]], str], data: Mapping[str, Any]
) -> str:
    try:
        body = draw(data)
    except Exception as exc:  # one broken section never takes the page down
        log.exception("page section %r failed", title)
        body = (
            f'<p class="note error">this section could not be drawn ({escape(type(exc).__name__)})'
            "; the JSON API still answers</p>"
        )
    return f'<section id="{anchor}"><h2>{escape(title)}</h2>{body}</section>'


def _selector(data: Mapping[str, Any], refresh: int) -> str:
    model = text(data.get("model"))
    raw = data.get("models")
    models = [str(m) for m in raw] if isinstance(raw, list) else []
    if model is not None and model not in models:
        models.append(model)
    options = (
        "".join(
            f'<option value="{escape(m)}"{" selected" if m == model else ""}>{escape(m)}</option>'
            for m in models
        )
        or '<option value="">no model yet</option>'
    )
    which = text(data.get("window")) or "current"
    windows = "".join(
        f'<option value="{w}"{" selected" if w == which else ""}>{w}</option>' for w in WINDOWS
    )
    return (
        '<form method="get" action="/" class="selector">'
        f'<label>model <select name="model" data-autosubmit>{options}</select></label>'
        f'<label>window <select name="window" data-autosubmit>{windows}</select></label>'
        f'<input type="hidden" name="refresh" value="{refresh}">'
        '<button type="submit">show</button></form>'
    )


def _links(data: Mapping[str, Any]) -> str:
    model = text(data.get("model"))
    query = {"window": text(data.get("window")) or "current"}
    if model:
        query["model"] = model
    links = []
    for name in JSON_ENDPOINTS:
        params = {"model": model} if name == "history" and model else query
        if name == "status":
            params = {"window": query["window"]}
        links.append(f'<a href="/api/v1/{name}?{escape(urlencode(params))}">{name}</a>')
    links.append('<a href="/metrics">metrics</a>')
    return '<nav class="links">JSON: ' + " · ".join(links) + "</nav>"


def _header(data: Mapping[str, Any], refresh: int) -> str:
    status = mapping(data.get("status"))
    overall = text(status.get("status")) or "unknown"
    drift = mapping(data.get("drift"))
    window = mapping(drift.get("window"))
    span = f"{text(window.get('start')) or '—'} to {text(window.get('end')) or '—'}"
    generated = number(data.get("generated_at"))
    refreshing = f"refreshes every {refresh} s" if refresh else "auto-refresh off"
    query = escape(urlencode(_query(data, 0 if refresh else 30)))
    toggle = f'<a href="?{query}">{"pause" if refresh else "resume"}</a>'
    model, which = text(data.get("model")) or "—", text(data.get("window")) or "current"
    return (
        f'<header class="top"><div><h1>model-sidecar <span class="badge big {escape(overall)}" '
        f'id="overall">{escape(overall)}</span></h1><p class="meta">model '
        f"<b>{escape(model)}</b> · {escape(which)} "
        f"window {escape(span)} · generated {clock(generated) if generated else '—'} UTC · "
        f"{refreshing} ({toggle})</p></div>{_selector(data, refresh)}</header>{_links(data)}"
    )


def _query(data: Mapping[str, Any], refresh: int) -> dict[str, str]:
    query = {"window": text(data.get("window")) or "current", "refresh": str(refresh)}
    if text(data.get("model")):
        query["model"] = str(data.get("model"))
    return query


def signals_section(data: Mapping[str, Any]) -> str:
    """Each status signal with its verdict, value, threshold and reason; worst first."""
    raw = mapping(data.get("status")).get("signals")
    signals = [mapping(s) for s in raw] if isinstance(raw, list) else []
    if not signals:
        return '<p class="note">no status yet</p>'
    ordered = sorted(
        enumerate(signals), key=lambda item: (SEVERITY.get(str(item[1].get("status")), 4), item[0])
    )
    rows = "".join(
        f'<tr class="{escape(str(s.get("status")))}"><td><span class="badge '
        f'{escape(str(s.get("status")))}">{escape(str(s.get("status", "—")))}</span></td>'
        f"<th>{escape(str(s.get('name', '—')))}</th><td>{show(s.get('value'))}</td>"
        f"<td>{show(s.get('threshold'))}</td><td>{escape(str(s.get('detail') or ''))}</td></tr>"
        for _, s in ordered
    )
    return (
        '<table class="signals"><tr><th>verdict</th><th>signal</th><th>value</th>'
        f"<th>threshold</th><th>reason</th></tr>{rows}</table>"
    )


def _history_note(data: Mapping[str, Any]) -> str:
    history = mapping(data.get("history"))
    count = len(summaries(history))
    capacity = show(history.get("capacity"), lambda v: f"{v:.0f}")
    return (
        f'<p class="note">history: {count} closed windows of at most {capacity} '
        f"({show(data.get('window_seconds'), lambda v: f'{v:.0f}')} s each)</p>"
    )


def render_page(data: Mapping[str, Any], nonce: str, refresh: int) -> str:
    """The whole page as HTML for the data of `sidecar.page.gather.page_data`."""
    if data.get("drift") is None:
        model = text(data.get("model"))
        empty = f"no sampled traffic yet{f' for {model}' if model else ''}"
        body = f'<p class="note">{escape(empty)}</p>'
    else:
        body = _history_note(data)
    sections = [
        ("Signals", "signals", signals_section),
        ("Features", "features", lambda d: column_cards(d, "features")),
        ("Predictions", "predictions", lambda d: column_cards(d, "predictions")),
        ("Predictions over time", "predictions-over-time", output_over_time),
        ("Performance", "performance", performance_section),
        ("Fairness", "fairness", fairness_section),
        ("Traffic", "traffic", traffic_section),
    ]
    if data.get("drift") is None:
        sections = [s for s in sections if s[1] in ("signals", "traffic")]
    meta = f'<meta http-equiv="refresh" content="{refresh}">' if refresh > 0 else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # An empty icon, so the browser does not ask the admin port for /favicon.ico.
        '<link rel="icon" href="data:,">'
        f"{meta}<title>model-sidecar · {escape(text(data.get('model')) or 'no model')}</title>"
        f'<style nonce="{nonce}">{STYLE}</style></head><body>'
        f"{_header(data, refresh)}<main>{body}"
        + "".join(_safe(title, anchor, draw, data) for title, anchor, draw in sections)
        + f'</main><script nonce="{nonce}">{SCRIPT}</script></body></html>'
    )
