"""Inline SVG bar charts: a numeric histogram of reference vs window, and grouped bars.

Inputs are the plain forms `sidecar.distributions.Distribution.to_json()` gives (or any
mapping of the same keys); a missing or malformed key draws an empty chart, never raises.
At most ~40 bars per chart: 20 display bins plus two tails, or 13 categories x 2 sides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from sidecar.history import number
from sidecar.page.svg import (
    DEFAULT_HEIGHT,
    DEFAULT_WIDTH,
    PAD_BOTTOM,
    PAD_LEFT,
    PAD_RIGHT,
    PAD_TOP,
    REFERENCE_COLOUR,
    TEXT_COLOUR,
    WINDOW_COLOUR,
    Format,
    caption,
    frame,
    nice_top,
    percent,
    plain,
    y_axis,
)

BAR_ROW = 10
LABEL_WIDTH = 80


def _values(data: Mapping[str, Any], key: str) -> list[float]:
    raw = data.get(key)
    return [number(v) or 0.0 for v in raw] if isinstance(raw, list) else []


def _bar(x: float, y: float, w: float, h: float, tip: str = "") -> str:
    """A rect; colours come from the enclosing group, the tip (if any) shows on hover."""
    title = f"<title>{escape(tip)}</title></rect>" if tip else "</rect>"
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0.5):.1f}" height="{max(h, 0.0):.1f}">'
        f"{title}"
    )


def _group(body: str, fill: str, window: bool = False) -> str:
    """Bars of one side in one group, so each rect need not repeat its colours."""
    outline = f' stroke="{WINDOW_COLOUR}" stroke-width="1" fill-opacity="0.3"' if window else ""
    return f'<g fill="{fill}"{outline}>{body}</g>'


def histogram(data: Mapping[str, Any], label: str) -> str:
    """Reference (grey) and window (blue outline) fractions over the display bins and tails."""
    width, height = DEFAULT_WIDTH, DEFAULT_HEIGHT
    edges, ref, win = _values(data, "edges"), _values(data, "reference"), _values(data, "window")
    below, above = _values(data, "below") or [0.0, 0.0], _values(data, "above") or [0.0, 0.0]
    if len(edges) != len(ref) + 1 or len(ref) != len(win) or not ref:
        return frame(
            width, height, label, caption(width / 2, height / 2, "no distribution", "middle")
        )
    slots: list[tuple[str, float, float]] = []
    if any(below):
        slots.append((f"below {plain(edges[0])}", below[0], below[-1]))
    slots += [
        (f"[{plain(a)}, {plain(b)})", r, w)
        for a, b, r, w in zip(edges, edges[1:], ref, win, strict=False)
    ]
    if any(above):
        slots.append((f"above {plain(edges[-1])}", above[0], above[-1]))
    top = nice_top(max(v for _, r, w in slots for v in (r, w)))
    inner_w, inner_h = width - PAD_LEFT - PAD_RIGHT, height - PAD_TOP - PAD_BOTTOM
    step = inner_w / len(slots)
    parts = [y_axis(top, width, height, percent)]
    sides: tuple[list[str], list[str]] = ([], [])
    for i, (where, r, w) in enumerate(slots):
        x = PAD_LEFT + i * step
        tip = f"{where}: reference {percent(r)}, window {percent(w)}"
        for side, value, text in ((sides[0], r, ""), (sides[1], w, tip)):
            h = inner_h * min(value, top) / top
            side.append(_bar(x + 0.5, PAD_TOP + inner_h - h, step - 1, h, text))
    parts.append(_group("".join(sides[0]), REFERENCE_COLOUR))
    parts.append(_group("".join(sides[1]), WINDOW_COLOUR, window=True))
    first = PAD_LEFT + (step if any(below) else 0.0)
    last = PAD_LEFT + step * (len(slots) - (1 if any(above) else 0))
    for x, tail in ((first, any(below)), (last, any(above))):
        if tail:  # a tail slot holds everything beyond the range: set it apart
            parts.append(
                f'<line x1="{x:.1f}" y1="{PAD_TOP}" x2="{x:.1f}" y2="{PAD_TOP + inner_h}" '
                f'stroke="{TEXT_COLOUR}" stroke-width="0.6" stroke-dasharray="2 2"/>'
            )
    parts.append(caption(first, height - 6, plain(edges[0])))
    parts.append(caption((first + last) / 2, height - 6, plain(edges[len(edges) // 2]), "middle"))
    parts.append(caption(last, height - 6, plain(edges[-1]), "end"))
    return frame(width, height, label, "".join(parts))


def grouped_bars(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None], str]],
    label: str,
    fmt: Format = percent,
) -> str:
    """Horizontal bars, one row per label and one bar per (name, values, colour) series."""
    width = DEFAULT_WIDTH
    if not labels or not series:
        return frame(width, 40, label, caption(width / 2, 20, "no data yet", "middle"))
    row = BAR_ROW * len(series) + 6
    height = PAD_TOP + row * len(labels) + 4
    values = [v for _, vs, _ in series for v in vs if v is not None]
    top = nice_top(max(values, default=0.0))
    inner_w = width - LABEL_WIDTH - PAD_RIGHT - 40
    parts = []
    for i, name in enumerate(labels):
        y = PAD_TOP + i * row
        short = name if len(name) <= 14 else name[:13] + "…"
        parts.append(caption(LABEL_WIDTH - 4, y + row / 2 + 1, short, "end"))
        for j, (side, vs, colour) in enumerate(series):
            value = vs[i] if i < len(vs) else None
            w = inner_w * min(value or 0.0, top) / top
            tip = f"{name}: {side} {'—' if value is None else fmt(value)}"
            parts.append(_group(_bar(LABEL_WIDTH, y + j * BAR_ROW, w, BAR_ROW - 1, tip), colour))
            if value is not None:
                parts.append(
                    caption(LABEL_WIDTH + w + 3, y + j * BAR_ROW + BAR_ROW - 1, fmt(value))
                )
    return frame(width, height, label, "".join(parts))


def category_bars(data: Mapping[str, Any], label: str) -> str:
    """Reference vs window shares of each category of a `Distribution.to_json()` form."""
    raw = data.get("labels")
    labels = [str(v) for v in raw] if isinstance(raw, list) else []
    ref, win = _values(data, "reference"), _values(data, "window")
    series = [("reference", ref, REFERENCE_COLOUR), ("window", win, WINDOW_COLOUR)]
    return grouped_bars(labels, series, label)
