"""Service signals: upstream errors, latency against its SLO, error-budget burn, sidecar health.

Latency comes in as a histogram (upper bucket bounds and per-bucket counts, as the
`http_server_request_duration_seconds` instrument keeps them); `histogram_quantile` interpolates
linearly inside the bucket holding the quantile, as Prometheus's function of the same name does,
so the status verdict and a PromQL dashboard agree on the same counts.

Error-budget burn follows the Google SRE workbook, ch. 5 ("Alerting on SLOs"): burn rate =
(bad / total) / (1 - SLO target); a page needs both the long (1 h) and the short (5 m) window
above 14.4 (2% of a 30-day budget spent in an hour), a ticket both above 6. All functions are
O(number of buckets) and keep no state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from sidecar.signals.thresholds import StatusThresholds
from sidecar.signals.verdicts import Signal, grade, unknown


def histogram_quantile(q: float, bounds: Sequence[float], counts: Sequence[int]) -> float | None:
    """The q-quantile of a bucketed distribution, or None when it holds no observations.

    Args:
        bounds: ascending finite upper bounds of the buckets.
        counts: observations per bucket, `len(bounds)` or `len(bounds) + 1` long (the extra
            last bucket is the +Inf overflow). A quantile landing in the overflow bucket is
            the highest finite bound, as in Prometheus. The first bucket's lower edge is 0.
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile {q!r} is not in [0, 1]")
    upper = np.asarray(bounds, dtype=np.float64)
    n = np.asarray(counts, dtype=np.float64)
    if n.size not in (upper.size, upper.size + 1) or upper.size == 0:
        raise ValueError(f"{n.size} counts do not fit {upper.size} bucket bounds (need n or n+1)")
    if np.any(np.diff(upper) <= 0) or not np.all(np.isfinite(upper)):
        raise ValueError(f"bucket bounds {list(bounds)!r} are not finite and strictly ascending")
    if np.any(n < 0):
        raise ValueError(f"bucket counts {list(counts)!r} include a negative count")
    cumulative = np.cumsum(n)
    total = float(cumulative[-1])
    if total == 0:
        return None
    rank = q * total
    i = int(np.searchsorted(cumulative, rank, side="left"))
    if i >= upper.size:
        return float(upper[-1])
    lower = float(upper[i - 1]) if i > 0 else min(0.0, float(upper[0]))
    below = float(cumulative[i - 1]) if i > 0 else 0.0
    if n[i] == 0:
        return float(upper[i])
    return lower + (float(upper[i]) - lower) * (rank - below) / float(n[i])


def burn_rate(total: int, bad: int, target: float) -> float:
    """How many times faster than sustainable the error budget is being spent."""
    if total < 0 or bad < 0 or bad > total:
        raise ValueError(f"need 0 <= bad={bad!r} <= total={total!r}")
    if not 0.0 < target < 1.0:
        raise ValueError(f"SLO target {target!r} must be in (0, 1)")
    if total == 0:
        return 0.0
    return (bad / total) / (1.0 - target)


def _rate_signal(
    name: str, total: int, bad: int, what: str, bounds: tuple[float, float], min_total: int
) -> Signal:
    if total < 0 or bad < 0 or bad > total:
        raise ValueError(f"{name}: need 0 <= {what}={bad!r} <= total={total!r}")
    if total < min_total:
        return unknown(name, f"{total} requests (need {min_total})", bounds[0])
    share = bad / total
    return grade(name, share, bounds[0], bounds[1], f"{bad} {what} of {total}")


def upstream_errors(total: int, errors_5xx: int, t: StatusThresholds) -> Signal:
    """Share of responses with a 5xx status."""
    bounds = (t.upstream_5xx_warning, t.upstream_5xx_critical)
    return _rate_signal("upstream_5xx", total, errors_5xx, "5xx", bounds, t.min_requests)


def upstream_timeouts(total: int, timeouts: int, t: StatusThresholds) -> Signal:
    """Share of requests whose upstream timed out."""
    bounds = (t.upstream_timeout_warning, t.upstream_timeout_critical)
    return _rate_signal("upstream_timeouts", total, timeouts, "timeouts", bounds, t.min_requests)


def latency_slo(bounds: Sequence[float], counts: Sequence[int], t: StatusThresholds) -> Signal:
    """The latency quantile (p99 by default) against the SLO: critical above, warning near."""
    name = "latency_slo"
    slo = t.latency_slo_seconds
    total = int(sum(counts))
    if total < t.min_requests:
        return unknown(name, f"{total} requests (need {t.min_requests})", slo)
    value = histogram_quantile(t.latency_quantile, bounds, counts)
    if value is None:  # pragma: no cover - total > 0 above
        return unknown(name, "empty histogram", slo)
    label = f"p{t.latency_quantile * 100:g}"
    detail = f"{label} {value * 1000:.0f} ms over {total} requests (SLO {slo * 1000:.0f} ms)"
    warning = t.latency_warning_fraction * slo
    # Strictly above the SLO is a breach: at the SLO the objective "p99 <= slo" still holds.
    if value > slo:
        return Signal(name, "critical", value, slo, detail)
    if value >= warning:
        return Signal(name, "warning", value, warning, detail)
    return Signal(name, "ok", value, slo, detail)


def error_budget_burn(
    total_5m: int, bad_5m: int, total_1h: int, bad_1h: int, t: StatusThresholds
) -> Signal:
    """Multiwindow burn rate: critical when 1 h and 5 m both burn >= 14.4x, warning >= 6x."""
    name = "error_budget_burn"
    if total_1h < t.min_requests:
        return unknown(name, f"{total_1h} requests in 1 h (need {t.min_requests})")
    long_rate = burn_rate(total_1h, bad_1h, t.slo_target)
    short_rate = burn_rate(total_5m, bad_5m, t.slo_target)
    # The short window confirms the burn is still going on; the verdict is the lower of the two.
    both = min(long_rate, short_rate)
    detail = f"burn 1h {long_rate:.2f}x, 5m {short_rate:.2f}x (SLO {t.slo_target:.3%})"
    signal = grade(name, both, t.burn_rate_warning, t.burn_rate_critical, detail)
    return Signal(name, signal.verdict, long_rate, signal.threshold, detail)


# The sidecar itself ---------------------------------------------------------------------------


def capture_drops(offered: int, dropped: int, t: StatusThresholds) -> Signal:
    """Share of sampled pairs dropped before analysis (queue full, too large, budget)."""
    bounds = (t.capture_drop_warning, t.capture_drop_critical)
    return _rate_signal("capture_drops", offered, dropped, "dropped", bounds, t.min_requests)


def decode_errors(payloads: int, errors: int, t: StatusThresholds) -> Signal:
    """Share of sampled payloads no decoder could read."""
    bounds = (t.decode_error_warning, t.decode_error_critical)
    return _rate_signal("decode_errors", payloads, errors, "undecodable", bounds, t.min_requests)


def queue_saturation(depth: int, capacity: int, t: StatusThresholds) -> Signal:
    """How full the analysis queue is."""
    name = "queue_saturation"
    if capacity <= 0 or depth < 0:
        raise ValueError(f"queue depth={depth!r} must be >= 0 and capacity={capacity!r} > 0")
    share = min(depth / capacity, 1.0)
    bounds = (t.queue_saturation_warning, t.queue_saturation_critical)
    return grade(name, share, *bounds, f"{depth} of {capacity} slots used")


def analysis_cpu(cpu_share: float, cap: float, t: StatusThresholds) -> Signal:
    """Analysis CPU against its cap: at the cap the budget sheds samples (warning only)."""
    name = "analysis_cpu"
    if not (math.isfinite(cpu_share) and cpu_share >= 0):
        raise ValueError(f"analysis CPU share {cpu_share!r} must be a finite number >= 0")
    if not (math.isfinite(cap) and cap > 0):
        raise ValueError(f"analysis CPU cap {cap!r} must be a finite number > 0")
    detail = f"{cpu_share:.1%} of a core, cap {cap:.1%}"
    return grade(name, cpu_share / cap, t.analysis_cpu_warning, None, detail)
