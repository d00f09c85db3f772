"""Page sections for outcomes and traffic: performance, fairness by group, requests over time.

Input: the `/api/v1/performance` and `/api/v1/fairness` shapes (the outcome document), the
`/api/v1/history` summaries, the `/api/v1/status` signals (for thresholds) and the traffic
points of `sidecar.page.gather`. Missing keys show as "—" or "no data yet".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from sidecar.history import mapping, number, text
from sidecar.page.bars import grouped_bars
from sidecar.page.columns import NONE, over_time, show, summaries
from sidecar.page.svg import (
    REFERENCE_COLOUR,
    WINDOW_COLOUR,
    Series,
    legend,
    line_chart,
    milliseconds,
    percent,
    plain,
)

PERFORMANCE_ROWS = (
    ("labelled rows", "labelled_rows", lambda v: f"{v:.0f}"),
    ("accuracy (labels)", "accuracy", percent),
    ("estimated accuracy (no labels)", "estimated_accuracy", percent),
    ("F1 macro", "f1_macro", plain),
    ("log loss", "log_loss", plain),
    ("RMSE", "rmse", plain),
    ("MAE", "mae", plain),
    ("R²", "r2", plain),
    ("low-confidence share", "low_confidence_share", percent),
)
GROUP_COLUMNS = ("rows", "labelled_rows", "selection_rate", "tpr", "fpr", "accuracy")


def signal_threshold(data: Mapping[str, Any], name: str) -> float | None:
    """The threshold the status signal `name` was judged against, if any."""
    signals = mapping(data.get("status")).get("signals")
    for signal in signals if isinstance(signals, list) else []:
        if mapping(signal).get("name") == name:
            return number(mapping(signal).get("threshold"))
    return None


def _table(rows: Sequence[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="figures-table">{body}</table>'


def performance_section(data: Mapping[str, Any]) -> str:
    """Current figures, and realised vs estimated performance per window."""
    performance = mapping(mapping(data.get("outcome")).get("performance"))
    rows = [(label, show(performance.get(key), fmt)) for label, key, fmt in PERFORMANCE_ROWS]
    task = text(performance.get("task")) or NONE
    history = summaries(mapping(data.get("history")))
    figures = over_time(history, lambda s: mapping(s.get("performance")))
    gap = 1.5 * (number(data.get("window_seconds")) or 300.0)
    if task == "regression":
        series = [
            Series("RMSE", [(t, number(f.get("rmse"))) for t, f in figures]),
            Series("MAE", [(t, number(f.get("mae"))) for t, f in figures], REFERENCE_COLOUR),
        ]
        key, fmt = legend([("RMSE", WINDOW_COLOUR), ("MAE", REFERENCE_COLOUR)]), plain
    else:
        series = [
            Series("accuracy", [(t, number(f.get("accuracy"))) for t, f in figures]),
            Series(
                "estimated",
                [(t, number(f.get("estimated_accuracy"))) for t, f in figures],
                REFERENCE_COLOUR,
                dashed=True,
            ),
        ]
        key = legend(
            [("realised (labels)", WINDOW_COLOUR), ("estimated (confidence)", REFERENCE_COLOUR)],
            [False, True],
        )
        fmt = percent
    threshold = signal_threshold(data, "performance")
    chart = line_chart(series, "performance per window", fmt=fmt, threshold=threshold, gap=gap)
    note = ""
    if not number(performance.get("labelled_rows")):
        note = (
            '<p class="note">realised figures appear once labels arrive (POST /api/v1/feedback)</p>'
        )
    return (
        f'<div class="cards"><article class="card"><header><h3>this window</h3>'
        f'<span class="kind">{escape(task)}</span></header>{_table(rows)}{note}</article>'
        f'<article class="card"><header><h3>per window</h3></header>{key}{chart}</article></div>'
    )


def _attribute_card(attribute: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    name = str(attribute.get("attribute", NONE))
    raw = attribute.get("groups")
    groups = [mapping(g) for g in raw] if isinstance(raw, list) else []
    labels = [str(g.get("group", NONE)) for g in groups]
    bars = grouped_bars(
        labels,
        [
            ("selection rate", [number(g.get("selection_rate")) for g in groups], WINDOW_COLOUR),
            ("accuracy", [number(g.get("accuracy")) for g in groups], REFERENCE_COLOUR),
        ],
        f"{name}: selection rate and accuracy by group",
    )
    head = "".join(f"<th>{c.replace('_', ' ')}</th>" for c in GROUP_COLUMNS)
    body = "".join(
        f"<tr><th>{escape(label)}</th>"
        + "".join(
            f"<td>{show(g.get(c), (lambda v: f'{v:.0f}') if c.endswith('rows') else percent)}</td>"
            for c in GROUP_COLUMNS
        )
        + "</tr>"
        for label, g in zip(labels, groups, strict=True)
    )
    history = summaries(mapping(data.get("history")))
    gaps = over_time(history, lambda s: number(mapping(s.get("fairness")).get(name)))
    gap = 1.5 * (number(data.get("window_seconds")) or 300.0)
    trend = line_chart(
        [Series("demographic parity difference", gaps)],
        f"{name}: demographic parity difference per window",
        threshold=signal_threshold(data, "fairness"),
        gap=gap,
    )
    dpd = show(attribute.get("demographic_parity_difference"))
    key = legend([("selection rate", WINDOW_COLOUR), ("accuracy", REFERENCE_COLOUR)])
    return (
        f'<article class="card"><header><h3>{escape(name)}</h3><span class="kind">'
        f"demographic parity difference {dpd}</span></header>{key}{bars}"
        f'<table class="groups"><tr><th>group</th>{head}</tr>{body}</table>'
        f"<h4>demographic parity difference per window</h4>{trend}</article>"
    )


def fairness_section(data: Mapping[str, Any]) -> str:
    """Per attribute: rates by group now, and the parity gap per window."""
    attributes = mapping(mapping(data.get("outcome")).get("fairness")).get("attributes")
    if not isinstance(attributes, list) or not attributes:
        return '<p class="note">no fairness attributes configured (fairness.attributes)</p>'
    cards = "".join(_attribute_card(mapping(a), data) for a in attributes)
    return f'<div class="cards">{cards}</div>'


def traffic_section(data: Mapping[str, Any]) -> str:
    """Requests per second, latency p50/p99 and the 5xx share over the last hour."""
    raw = data.get("traffic")
    points = [mapping(p) for p in raw] if isinstance(raw, list) else []
    at = [(number(p.get("time")) or 0.0, p) for p in points]

    def line(key: str) -> list[tuple[float, float | None]]:
        return [(t, number(p.get(key))) for t, p in at]

    charts = [
        (
            "requests per second",
            line_chart([Series("requests/s", line("rate"))], "requests per second"),
            "",
        ),
        (
            "latency",
            line_chart(
                [Series("p50", line("p50")), Series("p99", line("p99"), "#f59e0b")],
                "latency p50 and p99",
                fmt=milliseconds,
            ),
            legend([("p50", WINDOW_COLOUR), ("p99", "#f59e0b")]),
        ),
        (
            "5xx share",
            line_chart([Series("5xx", line("error_rate"), "#dc2626")], "5xx share", fmt=percent),
            "",
        ),
    ]
    cards = "".join(
        f'<article class="card"><header><h3>{title}</h3></header>{key}{chart}</article>'
        for title, chart, key in charts
    )
    return (
        f'<p class="note">last hour, 10-s buckets, all models</p><div class="cards">{cards}</div>'
    )
