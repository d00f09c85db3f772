"""Page cards for feature and prediction columns: distribution, drift over time, quality rates.

Input: the `/api/v1/drift` column objects, `/api/v1/quality` feature rates, the distributions
of `sidecar.page.gather` and the `/api/v1/history` summaries. A missing or renamed key shows as
"—" or an empty chart. Drifted columns come first and carry `data-drift="true"`; at most
`DEFAULT_MAX_CARDS` (60) cards per group, the rest are counted and left to the JSON API.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from html import escape
from typing import Any

from sidecar.history import flag, mapping, number, text
from sidecar.page.bars import category_bars, histogram
from sidecar.page.svg import (
    REFERENCE_COLOUR,
    WINDOW_COLOUR,
    Format,
    Series,
    legend,
    line_chart,
    percent,
    plain,
)

DEFAULT_MAX_CARDS = 60
NONE = "—"
PALETTE = ("#2563eb", "#f59e0b", "#10b981", "#8b5cf6", "#ef4444", "#06b6d4", "#84cc16", "#ec4899")


def show(value: Any, fmt: Format = plain) -> str:
    """A number formatted, or "—" when it is missing or not a number."""
    found = number(value)
    return NONE if found is None else fmt(found)


def verdict_badge(drift: bool | None) -> str:
    """The drift badge of a column."""
    if drift is True:
        return '<span class="badge critical">drift</span>'
    if drift is False:
        return '<span class="badge ok">no drift</span>'
    return '<span class="badge unknown">no verdict</span>'


def summaries(history: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The history document's summaries (oldest first), each a mapping."""
    raw = history.get("summaries")
    return [mapping(s) for s in raw] if isinstance(raw, list) else []


def over_time(
    history: Sequence[Mapping[str, Any]], pick: Callable[[Mapping[str, Any]], Any]
) -> list[tuple[float, Any]]:
    """(window end, picked value) per summary that has an end time."""
    return [(end, pick(s)) for s in history if (end := number(s.get("end"))) is not None]


def _figures(column: Mapping[str, Any], rates: Mapping[str, Any]) -> str:
    method = text(column.get("method")) or "statistic"
    value = mapping(column.get("statistics")).get(method)
    cells = [
        (escape(method), f"{show(value)} <small>/ {show(column.get('threshold'))}</small>"),
        ("rows", show(column.get("count"), lambda v: f"{v:.0f}")),
        ("missing", show(rates.get("missing"), percent)),
        ("NaN", show(rates.get("nan"), percent)),
    ]
    return '<dl class="figures">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in cells) + "</dl>"


def _drift_chart(
    name: str, group: str, column: Mapping[str, Any], history: Sequence[Any], gap: float
) -> str:
    points = over_time(history, lambda s: mapping(mapping(s.get(group)).get(name)))
    series = Series(
        "statistic",
        [(t, number(p.get("statistic"))) for t, p in points],
        WINDOW_COLOUR,
        marks=[flag(p.get("drift")) is True for _, p in points],
    )
    threshold = number(column.get("threshold"))
    method = text(column.get("method")) or "statistic"
    return line_chart([series], f"{name}: {method} per window", threshold=threshold, gap=gap)


def column_card(
    name: str,
    group: str,
    column: Mapping[str, Any],
    rates: Mapping[str, Any],
    distribution: Mapping[str, Any] | None,
    history: Sequence[Mapping[str, Any]],
    gap: float,
) -> str:
    """One column: verdict, figures, reference vs window distribution, statistic over time."""
    drift = flag(column.get("drift"))
    kind = text(column.get("kind")) or text(mapping(distribution).get("kind")) or NONE
    dist = mapping(distribution)
    if not dist:
        chart = '<p class="note">no reference distribution for this column</p>'
    elif dist.get("kind") == "categorical":
        chart = category_bars(dist, f"{name}: reference vs window shares")
    else:
        chart = histogram(dist, f"{name}: reference vs window distribution")
    state = "true" if drift is True else "false" if drift is False else "unknown"
    return (
        f'<article class="card{" drifted" if drift else ""}" data-column="{escape(name)}" '
        f'data-drift="{state}"><header><h3>{escape(name)}</h3><span class="kind">{escape(kind)}'
        f"</span>{verdict_badge(drift)}</header>{_figures(column, rates)}"
        f"<h4>distribution</h4>{chart}"
        f"<h4>drift statistic per window</h4>{_drift_chart(name, group, column, history, gap)}"
        "</article>"
    )


def column_cards(data: Mapping[str, Any], group: str) -> str:
    """Cards of every column of `group` ("features" or "predictions"), drifted first."""
    columns = mapping(mapping(data.get("drift")).get(group))
    if not columns:
        return '<p class="note">no columns seen yet</p>'
    rates = mapping(mapping(data.get("quality")).get("features"))
    dists = mapping(mapping(data.get("distributions")).get(group))
    history = summaries(mapping(data.get("history")))
    gap = 1.5 * (number(data.get("window_seconds")) or 300.0)
    order = sorted(
        enumerate(columns.items()),
        key=lambda item: (flag(mapping(item[1][1]).get("drift")) is not True, item[0]),
    )
    cards = [
        column_card(
            str(name),
            group,
            mapping(column),
            mapping(rates.get(name)),
            dists.get(name),
            history,
            gap,
        )
        for _, (name, column) in order[:DEFAULT_MAX_CARDS]
    ]
    more = len(order) - DEFAULT_MAX_CARDS
    note = f'<p class="note">{more} more columns in /api/v1/drift</p>' if more > 0 else ""
    key = legend([("reference", REFERENCE_COLOUR), ("window", WINDOW_COLOUR)])
    tails = (
        '<p class="note">numeric bars span the reference\'s 0.5-99.5% range; a bar past a '
        "dotted line holds everything beyond it</p>"
    )
    return f'{key}{tails}<div class="cards">{"".join(cards)}</div>{note}'


def _output_points(
    history: Sequence[Mapping[str, Any]], name: str
) -> list[tuple[float, Mapping[str, Any]]]:
    def pick(summary: Mapping[str, Any]) -> Mapping[str, Any]:
        column = mapping(mapping(summary.get("predictions")).get(name))
        return mapping(column.get("distribution"))

    return over_time(history, pick)


def _output_chart(name: str, points: list[tuple[float, Mapping[str, Any]]], gap: float) -> str:
    keys: list[str] = []
    for _, shares in points:
        keys += [k for k in shares if k not in keys]
    if "p50" in keys:
        band = [
            (t, low, high)
            for t, d in points
            if (low := number(d.get("p10"))) is not None
            and (high := number(d.get("p90"))) is not None
        ]
        series = [Series("median", [(t, number(d.get("p50"))) for t, d in points])]
        chart = line_chart(series, f"{name}: p10-p90 and median per window", band=band, gap=gap)
        return legend([("median", WINDOW_COLOUR), ("p10-p90", "#bfd3fb")]) + chart
    shown = keys[: len(PALETTE)]
    lines = [
        Series(k, [(t, number(d.get(k)) or 0.0) for t, d in points], PALETTE[i])
        for i, k in enumerate(shown)
    ]
    chart = line_chart(lines, f"{name}: class shares per window", fmt=percent, gap=gap)
    return legend([(k, PALETTE[i]) for i, k in enumerate(shown)]) + chart


def output_over_time(data: Mapping[str, Any]) -> str:
    """Each prediction column's distribution per window: class shares, or p10-p90 and median."""
    history = summaries(mapping(data.get("history")))
    gap = 1.5 * (number(data.get("window_seconds")) or 300.0)
    names: list[str] = []
    for s in history:
        names += [n for n in mapping(s.get("predictions")) if n not in names]
    if not names:
        return '<p class="note">no closed window recorded yet</p>'
    charts = [
        f'<article class="card"><header><h3>{escape(name)} over time</h3></header>'
        f"{_output_chart(name, _output_points(history, name), gap)}</article>"
        for name in names
    ]
    return f'<div class="cards">{"".join(charts)}</div>'
