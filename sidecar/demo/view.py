"""The demo's live view: what the admin port says, as a refreshing table or plain summaries.

Each refresh reads `/metrics` (requests/s and latency p50/p99 from the change in the
`http_server_request_duration_seconds` histogram since the previous read, interpolated within
buckets as Prometheus' histogram_quantile does) and `/api/v1/drift`, `/quality`, `/performance`,
`/fairness`, `/status`. An endpoint that is missing or failing shows as "n/a"; the view never
raises for what the sidecar answers. Plain summaries (`--no-tty`) are one block per refresh, one
line per feature ending in `drift=yes|no|n/a`, so scripts and tests can read them.
Memory: the previous histogram read (one float per bucket).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

DURATION_METRIC = "http_server_request_duration_seconds"
API_ENDPOINTS = ("drift", "quality", "performance", "fairness", "status")
CLEAR = "\x1b[H\x1b[2J"
RED, GREEN, DIM, BOLD, RESET = "\x1b[31m", "\x1b[32m", "\x1b[2m", "\x1b[1m", "\x1b[0m"

Buckets = list[tuple[float, float]]
"""Cumulative histogram buckets: (upper bound, count of observations <= it), bounds ascending."""


def read_histogram(text: str, name: str = DURATION_METRIC) -> Buckets:
    """The histogram `name` in Prometheus text, summed over all its label sets."""
    totals: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != name:
            continue
        for sample in family.samples:
            if sample.name == f"{name}_bucket":
                bound = float(sample.labels["le"])
                totals[bound] = totals.get(bound, 0.0) + float(sample.value)
    return sorted(totals.items())


def subtract(now: Buckets, before: Buckets) -> Buckets:
    """Bucket counts observed between two reads (a bucket missing before counts from zero)."""
    earlier = dict(before)
    return [(bound, max(0.0, count - earlier.get(bound, 0.0))) for bound, count in now]


def histogram_quantile(q: float, buckets: Buckets) -> float | None:
    """The q-quantile of cumulative buckets, linear within a bucket; None without observations."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q={q!r} is not in [0, 1]")
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank and count > below:
            if math.isinf(bound):
                return lower  # past the last finite bound, as Prometheus answers
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


@dataclass(frozen=True)
class ColumnLine:
    """One column's drift as shown: the rule's statistic, the limit it must pass, the verdict.

    `threshold` is the report's `critical` (the larger of the effect-size threshold and the
    no-drift quantile at this row count), or its `threshold` from a sidecar without one.
    """

    group: str
    name: str
    kind: str
    method: str
    value: float | None
    threshold: float | None
    rows: int
    drift: bool | None
    reason: str = ""


@dataclass(frozen=True)
class ViewState:
    """One refresh of the view."""

    elapsed: float
    shifted: bool
    requests_per_second: float | None
    p50: float | None
    p99: float | None
    window: str
    columns: tuple[ColumnLine, ...]
    api: Mapping[str, Any]


def drift_lines(body: Any) -> tuple[ColumnLine, ...]:
    """Per-column lines from a `/api/v1/drift` body (empty when it has no columns)."""
    lines = []
    if not isinstance(body, Mapping):
        return ()
    for group in ("features", "predictions"):
        columns = body.get(group)
        if not isinstance(columns, Mapping):
            continue
        for name, column in columns.items():
            if not isinstance(column, Mapping):
                continue
            method = str(column.get("method", "?"))
            statistics = column.get("statistics")
            value = statistics.get(method) if isinstance(statistics, Mapping) else None
            limit = _number(column.get("critical"))
            reason = column.get("reason")
            lines.append(
                ColumnLine(
                    group,
                    str(name),
                    str(column.get("kind", "?")),
                    method,
                    value if isinstance(value, int | float) else None,
                    limit if limit is not None else _number(column.get("threshold")),
                    int(column.get("count") or 0),
                    column.get("drift") if isinstance(column.get("drift"), bool) else None,
                    reason if isinstance(reason, str) else "",
                )
            )
    return tuple(lines)


def find(body: Any, key: str) -> Any:
    """The first value under `key` anywhere in nested JSON (depth-first), or None."""
    if isinstance(body, Mapping):
        if key in body:
            return body[key]
        children: Sequence[Any] = list(body.values())
    elif isinstance(body, list):
        children = body
    else:
        return None
    for child in children:
        found = find(child, key)
        if found is not None:
            return found
    return None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _fmt(value: Any, digits: int = 3) -> str:
    number = _number(value)
    return "n/a" if number is None else f"{number:.{digits}f}"


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.1f}ms"


def verdict(drift: bool | None) -> str:
    """yes / no / n/a."""
    return "n/a" if drift is None else "yes" if drift else "no"


def quality_text(body: Any) -> str:
    """Rows, the worst missing and type-mismatch rates, and the payload error rate."""
    if not isinstance(body, Mapping):
        return "n/a"
    features = find(body, "features")
    worst = {}
    for check in ("missing", "type_mismatch", "out_of_range"):
        rates = [
            (r, n)
            for n, f in (features.items() if isinstance(features, Mapping) else [])
            if isinstance(f, Mapping) and (r := _number(f.get(check))) is not None
        ]
        top = max(rates) if rates else None
        worst[check] = (
            "n/a" if top is None else f"{top[0]:.1%}" + (f" ({top[1]})" if top[0] else "")
        )
    return (
        f"rows={find(body, 'rows') or 0} missing={worst['missing']} "
        f"type_mismatch={worst['type_mismatch']} out_of_range={worst['out_of_range']} "
        f"payload_errors={_fmt(find(body, 'payload_error_rate'))}"
    )


def performance_text(body: Any) -> str:
    """Realised accuracy and F1 from labels, next to the label-free estimate."""
    if not isinstance(body, Mapping):
        return "n/a"
    return (
        f"labelled={find(body, 'labelled_rows') or 0} accuracy={_fmt(find(body, 'accuracy'))} "
        f"f1_macro={_fmt(find(body, 'f1_macro'))} "
        f"estimated_accuracy={_fmt(find(body, 'estimated_accuracy'))}"
    )


def fairness_text(body: Any) -> str:
    """Per attribute: demographic parity and equal opportunity differences."""
    if not isinstance(body, Mapping):
        return "n/a"
    # The API wraps the report under "fairness" beside a list of attribute names.
    report = body.get("fairness") if "fairness" in body else body
    attributes = report.get("attributes") if isinstance(report, Mapping) else None
    if not isinstance(attributes, list) or not attributes:
        return "n/a"
    parts = []
    for item in attributes:
        if isinstance(item, Mapping):
            parts.append(
                f"{item.get('attribute')}: "
                f"parity_diff={_fmt(item.get('demographic_parity_difference'))} "
                f"equal_opportunity_diff={_fmt(item.get('equal_opportunity_difference'))}"
            )
    return "; ".join(parts) or "n/a"


def status_text(body: Any) -> str:
    """The overall verdict and the signals that are not ok."""
    if not isinstance(body, Mapping) or "status" not in body:
        return "n/a"
    signals = body.get("signals")
    signals = signals if isinstance(signals, list) else []
    raised = [
        f"{s.get('name')}={s.get('status')}"
        for s in signals
        if isinstance(s, Mapping) and s.get("status") not in ("ok", "unknown")
    ]
    return f"{body['status']}" + (f" ({', '.join(raised)})" if raised else "")


def header(state: ViewState) -> str:
    """The first line of a refresh: time, traffic phase, rate and latency."""
    phase = "after-shift" if state.shifted else "before-shift"
    rps = "n/a" if state.requests_per_second is None else f"{state.requests_per_second:.1f}"
    return (
        f"t={state.elapsed:.1f}s traffic={phase} requests/s={rps} "
        f"p50={_ms(state.p50)} p99={_ms(state.p99)} window={state.window}"
    )


def _column_text(line: ColumnLine) -> str:
    return (
        f"{line.group[:-1]} {line.name:<14} {line.kind:<11} {line.method}={_fmt(line.value)} "
        f"threshold={_fmt(line.threshold, 2)} rows={line.rows} drift={verdict(line.drift)}"
    )


def _sections(state: ViewState) -> list[tuple[str, str]]:
    api = state.api
    return [
        ("quality", quality_text(api.get("quality"))),
        ("performance", performance_text(api.get("performance"))),
        ("fairness", fairness_text(api.get("fairness"))),
        ("status", status_text(api.get("status"))),
    ]


def render_plain(state: ViewState) -> str:
    """A plain summary block (no escapes), one line per column ending in drift=yes|no|n/a."""
    lines = [f"--- {header(state)}"]
    if not state.columns:
        lines.append("drift: n/a")
    lines.extend(_column_text(line) for line in state.columns)
    lines.extend(f"{name}: {text}" for name, text in _sections(state))
    return "\n".join(lines) + "\n"


def render_table(state: ViewState, urls: Sequence[str] = ()) -> str:
    """The whole screen for a terminal: cleared, with coloured drift verdicts."""
    colours = {True: RED + "DRIFT" + RESET, False: GREEN + "ok" + RESET, None: DIM + "n/a" + RESET}
    lines = [CLEAR + BOLD + "model-sidecar demo" + RESET + "  " + header(state), *urls, ""]
    lines.append(
        f"{'column':<24}{'kind':<13}{'statistic':<14}{'value':>9}{'limit':>8}{'rows':>8}  verdict"
    )
    for line in state.columns:
        name = f"{line.group[:-1]}:{line.name}"
        lines.append(
            f"{name:<24}{line.kind:<13}{line.method:<14}{_fmt(line.value):>9}"
            f"{_fmt(line.threshold, 2):>8}{line.rows:>8}  {colours[line.drift]}"
            + (f" {DIM}({line.reason}){RESET}" if line.drift is None and line.reason else "")
        )
    if not state.columns:
        lines.append(DIM + "(no drift report yet)" + RESET)
    lines.append("")
    lines.extend(f"{BOLD}{name:<12}{RESET}{text}" for name, text in _sections(state))
    lines.append(DIM + "Ctrl-C stops the demo." + RESET)
    return "\n".join(lines) + "\n"
