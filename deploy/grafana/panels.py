"""Building blocks of the model-sidecar Grafana dashboard: queries, panels, rows and layout.

Shared by `build_dashboard.py` and `llm_panels.py`; stdlib only, so the generator runs anywhere.
"""

from __future__ import annotations

from typing import Any

Panel = dict[str, Any]

PANEL_WIDTH = 24
NS = 'namespace=~"$namespace"'
NSM = f'{NS}, model=~"$model"'
NSMF = f'{NSM}, feature=~"$feature"'
RATE = "$__rate_interval"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def target(expr: str, legend: str = "", ref: str = "A", instant: bool = False) -> dict[str, Any]:
    """One Prometheus query of a panel."""
    return {
        "datasource": DATASOURCE,
        "expr": expr,
        "legendFormat": legend or "__auto",
        "refId": ref,
        "range": not instant,
        "instant": instant,
        "format": "table" if instant else "time_series",
    }


def panel(kind: str, title: str, targets: list[dict[str, Any]], **extra: Any) -> Panel:
    """A panel without its position; `layout` places it."""
    unit = extra.pop("unit", "short")
    mappings = extra.pop("mappings", [])
    body: Panel = {
        "type": kind,
        "title": title,
        "description": extra.pop("description", ""),
        "datasource": DATASOURCE,
        "targets": targets,
        "fieldConfig": {"defaults": {"unit": unit, "mappings": mappings}, "overrides": []},
        "options": extra.pop("options", {}),
        "transformations": extra.pop("transformations", []),
    }
    body.update(extra)
    return body


def timeseries(title: str, *exprs: tuple[str, str], unit: str = "short", **extra: Any) -> Panel:
    """A time series panel with one query per (expr, legend) pair."""
    refs = "ABCDEFGH"
    targets = [target(expr, legend, refs[i]) for i, (expr, legend) in enumerate(exprs)]
    return panel("timeseries", title, targets, unit=unit, **extra)


def stat(title: str, expr: str, legend: str = "", unit: str = "short", **extra: Any) -> Panel:
    """A single-value panel showing the last value."""
    options = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}
    return panel("stat", title, [target(expr, legend)], unit=unit, options=options, **extra)


def row(title: str) -> Panel:
    """A row header."""
    return {"type": "row", "title": title, "collapsed": False, "panels": []}


def layout(panels: list[Panel]) -> list[Panel]:
    """Give every panel an id and a grid position: rows full width, two panels per line."""
    y, x = 0, 0
    for panel_id, item in enumerate(panels, start=1):
        item["id"] = panel_id
        if item["type"] == "row":
            y += 8 if x else 0
            item["gridPos"] = {"h": 1, "w": PANEL_WIDTH, "x": 0, "y": y}
            y, x = y + 1, 0
            continue
        item["gridPos"] = {"h": 8, "w": PANEL_WIDTH // 2, "x": x, "y": y}
        x = (x + PANEL_WIDTH // 2) % PANEL_WIDTH
        y += 8 if x == 0 else 0
    return panels
