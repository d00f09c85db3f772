"""What the page shows, gathered from the running sidecar as plain JSON-like data.

One copy of the chosen model's window (`sidecar.reports.model_reports`, as `/metrics` uses)
serves drift, quality, outcomes, the status signals and the distributions; the documents are
the same `to_json()` forms `/api/v1/drift`, `/quality`, `/performance`, `/fairness` and
`/status` serve, so the renderer depends on the API's shape and nothing deeper. Traffic is the
last hour of `RequestStats` in 10-s buckets (at most 360 points), leading empty buckets dropped.
Cost: one report computation (~20 ms per 100 features) plus ~10 ms for the traffic series.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sidecar import reports
from sidecar.distributions import column_distribution
from sidecar.history import History
from sidecar.recorder import traffic_series
from sidecar.signals.status import StatusSources, status_report


@dataclass(frozen=True)
class PageSources:
    """What the page reads: the status sources (monitor, request stats, ...) and the history."""

    status: StatusSources
    history: History
    window_seconds: float


def _distributions(view: reports.WindowView) -> dict[str, dict[str, Any]]:
    reference = view.reference
    out: dict[str, dict[str, Any]] = {"features": {}, "predictions": {}}
    if reference is None:
        return out
    for group in ("features", "predictions"):
        profiles = getattr(reference, group)
        sketches = getattr(view.snapshot, group)
        for name, profile in profiles.items():
            found = column_distribution(profile, sketches.get(name))
            if found is not None:
                out[group][name] = found.to_json()
    return out


def traffic_points(sources: PageSources, now: float) -> list[dict[str, Any]]:
    """The last hour of proxied traffic, one point per 10-s bucket, from the first request."""
    points = traffic_series(sources.status.stats, now)
    while points and points[0].requests == 0:
        points.pop(0)
    return [{**p.to_dict(), "rate": p.rate, "error_rate": p.error_rate} for p in points]


def page_data(sources: PageSources, model: str | None, which: str, now: float) -> dict[str, Any]:
    """Everything the page renders for `model` (the busiest when None) over the view `which`."""
    reports.check_view(which)
    monitor = sources.status.monitor
    models = sorted(name for name, _ in monitor.counters().models)
    data: dict[str, Any] = {
        "generated_at": now,
        "model": model,
        "models": models,
        "window": which,
        "window_seconds": sources.window_seconds,
        "traffic": traffic_points(sources, now),
    }
    try:
        computed = reports.model_reports(monitor, sources.status.policy, model, which, now)
    except reports.UnknownModel:
        if not models:
            data["status"] = status_report(sources.status, now, which).to_json()
        return data
    name = computed.view.model
    quality: Mapping[str, Any] = computed.quality.to_json()
    data.update(
        model=name,
        status=status_report(sources.status, now, which, computed).to_json(),
        drift=computed.drift.to_json(name),
        quality=quality,
        outcome=computed.outcome.to_json(),
        distributions=_distributions(computed.view),
        history=sources.history.to_json(name),
    )
    return data
