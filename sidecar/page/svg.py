"""Inline SVG charts as strings: line charts over time, histograms and grouped bars.

Pure functions from numbers to markup; every text is escaped; colours are presentation
attributes (no `style` attribute, so the page's Content-Security-Policy needs no
'unsafe-inline'). A `<title>` on each dot gives its value on hover without JavaScript; a series
of more than `DEFAULT_MAX_DOTS` (60) points draws no dots (marked stretches become a thick red
line), so a chart of a full history (288 points) stays a few kB. Charts are at most
`DEFAULT_WIDTH` x `DEFAULT_HEIGHT` user units and scale to their container.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

DEFAULT_WIDTH = 360
DEFAULT_HEIGHT = 130
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 40, 10, 10, 20
REFERENCE_COLOUR = "#9aa5b1"
WINDOW_COLOUR = "#2563eb"
ALERT_COLOUR = "#dc2626"
AXIS_COLOUR = "#cbd2d9"
TEXT_COLOUR = "#52606d"
DASH = "4 3"
DEFAULT_MAX_DOTS = 60
"""Series longer than this draw no dot per point: marked stretches are a thick red line."""

Format = Callable[[float], str]


def plain(value: float) -> str:
    """A number in at most 3 significant digits; thousands and millions as k and M."""
    size = abs(value)
    if size >= 1e6:
        return f"{value / 1e6:.3g}M"
    if size >= 1e4:
        return f"{value / 1e3:.3g}k"
    return f"{value:.3g}"


def percent(value: float) -> str:
    """A share as a percentage."""
    return f"{value * 100:.3g}%"


def milliseconds(value: float) -> str:
    """Seconds as milliseconds."""
    return f"{value * 1000:.3g} ms"


def clock(seconds: float) -> str:
    """Unix seconds as HH:MM:SS UTC."""
    return time.strftime("%H:%M:%S", time.gmtime(seconds))


@dataclass(frozen=True)
class Series:
    """One line: (x, y) points, y None breaks the line; `marks` flags points drawn in red."""

    label: str
    points: Sequence[tuple[float, float | None]]
    colour: str = WINDOW_COLOUR
    dashed: bool = False
    marks: Sequence[bool] = ()


def frame(width: int, height: int, label: str, body: str) -> str:
    """An `<svg>` element of the given size, labelled for screen readers and on hover."""
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(label)}</title>{body}</svg>"
    )


def caption(
    x: float, y: float, content: str, anchor: str = "start", colour: str = TEXT_COLOUR
) -> str:
    """A small escaped SVG text."""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="9" fill="{colour}" '
        f'text-anchor="{anchor}">{escape(content)}</text>'
    )


def nice_top(value: float) -> float:
    """The smallest of 1, 2, 2.5 or 5 times a power of ten that is >= `value` (> 0)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= value * (1 - 1e-9))


def y_axis(top: float, width: int, height: int, fmt: Format) -> str:
    """Three horizontal gridlines (0, top/2, top) with their values."""
    parts = []
    inner = height - PAD_TOP - PAD_BOTTOM
    for i in range(3):
        value = top * i / 2
        y = PAD_TOP + inner * (1 - i / 2)
        parts.append(
            f'<line x1="{PAD_LEFT}" y1="{y:.1f}" x2="{width - PAD_RIGHT}" y2="{y:.1f}" '
            f'stroke="{AXIS_COLOUR}" stroke-width="0.5"/>'
        )
        parts.append(caption(PAD_LEFT - 3, y + 3, fmt(value), "end"))
    return "".join(parts)


def _segments(
    points: Sequence[tuple[float, float | None]], gap: float | None
) -> list[list[tuple[float, float]]]:
    """Runs of consecutive defined points, split where y is None or x jumps more than `gap`."""
    runs: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = []
    for x, y in points:
        if y is None or (gap is not None and current and x - current[-1][0] > gap):
            if current:
                runs.append(current)
            current = []
        if y is not None:
            current.append((x, y))
    if current:
        runs.append(current)
    return runs


def line_chart(
    series: Sequence[Series],
    label: str,
    *,
    fmt: Format = plain,
    threshold: float | None = None,
    band: Sequence[tuple[float, float, float]] = (),
    gap: float | None = None,
    width: int = DEFAULT_WIDTH,
    height: int = DEFAULT_HEIGHT,
) -> str:
    """Lines over time with an optional dashed threshold and a shaded (x, low, high) band."""
    xs = [x for s in series for x, _ in s.points] + [x for x, _, _ in band]
    ys = [y for s in series for _, y in s.points if y is not None]
    ys += [v for _, low, high in band for v in (low, high)]
    if not xs or not ys:
        return frame(width, height, label, caption(width / 2, height / 2, "no data yet", "middle"))
    top = nice_top(max([*ys, threshold or 0.0]))
    x0, x1 = min(xs), max(xs)
    span = (x1 - x0) or 1.0
    inner_w, inner_h = width - PAD_LEFT - PAD_RIGHT, height - PAD_TOP - PAD_BOTTOM

    def px(x: float) -> float:
        return PAD_LEFT + inner_w * ((x - x0) / span if x1 > x0 else 0.5)

    def py(y: float) -> float:
        return PAD_TOP + inner_h * (1 - min(max(y, 0.0), top) / top)

    parts = [y_axis(top, width, height, fmt)]
    if band:
        outline = [(px(x), py(h)) for x, _, h in band] + [
            (px(x), py(lo)) for x, lo, _ in band[::-1]
        ]
        points = " ".join(f"{a:.1f},{b:.1f}" for a, b in outline)
        parts.append(f'<polygon points="{points}" fill="{WINDOW_COLOUR}" fill-opacity="0.15"/>')
    if threshold is not None:
        y = py(threshold)
        parts.append(
            f'<line class="threshold" x1="{PAD_LEFT}" y1="{y:.1f}" x2="{width - PAD_RIGHT}" '
            f'y2="{y:.1f}" stroke="{ALERT_COLOUR}" stroke-dasharray="{DASH}" stroke-width="1"/>'
        )
        parts.append(
            caption(width - PAD_RIGHT, y - 3, f"threshold {fmt(threshold)}", "end", ALERT_COLOUR)
        )
    for s in series:
        parts.append(_series(s, px, py, gap, fmt))
    parts.append(caption(PAD_LEFT, height - 6, clock(x0)))
    if x1 > x0:
        parts.append(caption(width - PAD_RIGHT, height - 6, clock(x1), "end"))
    return frame(width, height, label, "".join(parts))


def _polylines(
    runs: list[list[tuple[float, float]]],
    px: Callable[[float], float],
    py: Callable[[float], float],
    attributes: str,
) -> str:
    out = []
    for run in runs:
        if len(run) < 2:
            continue
        # Whole units (about a pixel) for long lines, which carry no dots to meet exactly.
        digits = 0 if len(run) > DEFAULT_MAX_DOTS else 1
        points = " ".join(f"{px(x):.{digits}f},{py(y):.{digits}f}" for x, y in run)
        out.append(f'<polyline points="{points}" fill="none" {attributes}/>')
    return "".join(out)


def _series(
    s: Series,
    px: Callable[[float], float],
    py: Callable[[float], float],
    gap: float | None,
    fmt: Format,
) -> str:
    dash = f' stroke-dasharray="{DASH}"' if s.dashed else ""
    parts = [
        _polylines(
            _segments(s.points, gap), px, py, f'stroke="{s.colour}" stroke-width="1.5"{dash}'
        )
    ]
    marks = list(s.marks) + [False] * (len(s.points) - len(s.marks))
    if len(s.points) > DEFAULT_MAX_DOTS:
        # A long series: marked stretches as a thick red line, no dot per point.
        marked = [(x, y if m else None) for (x, y), m in zip(s.points, marks, strict=True)]
        runs = _segments(marked, gap)
        parts.append(_polylines(runs, px, py, f'stroke="{ALERT_COLOUR}" stroke-width="3"'))
        lone = [run[0] for run in runs if len(run) == 1]
        parts += [
            f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.6" fill="{ALERT_COLOUR}"/>'
            for x, y in lone
        ]
        return "".join(parts)
    for (x, y), flagged in zip(s.points, marks, strict=True):
        if y is None:
            continue
        colour = ALERT_COLOUR if flagged else s.colour
        radius = 2.6 if flagged else 1.6
        parts.append(
            f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="{radius}" fill="{colour}">'
            f"<title>{escape(s.label)} {escape(fmt(y))} at {clock(x)}</title></circle>"
        )
    return "".join(parts)


def legend(entries: Sequence[tuple[str, str]], dashed: Sequence[bool] = ()) -> str:
    """A one-line HTML legend of (label, colour) swatches; `dashed` marks dashed lines."""
    flags = [*dashed, *[False] * len(entries)]
    items = []
    for (label, colour), is_dashed in zip(entries, flags, strict=False):
        dash = f' stroke-dasharray="{DASH}"' if is_dashed else ""
        items.append(
            f'<span class="key"><svg width="16" height="8" aria-hidden="true"><line x1="0" '
            f'y1="4" x2="16" y2="4" stroke="{colour}" stroke-width="3"{dash}/></svg>'
            f"{escape(label)}</span>"
        )
    return f'<div class="legend">{"".join(items)}</div>'
