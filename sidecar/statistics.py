"""Distribution-distance statistics on binned counts, pure numpy (scipy is only a test oracle).

Counts are per slot: for a numeric column slot 0 is the underflow (x < e_0), slot k in 1..B the bin
[e_{k-1}, e_k) and slot B+1 the overflow (x >= e_B); a categorical column's slots are its
reference categories plus "other" (unseen in the window). P is the reference, Q the window, both
normalised to proportions. Definitions are in each function's docstring. Statistics on identical
bins are exact; KS and Wasserstein approximate the raw-data values as described there.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Counts = npt.NDArray[np.int64] | FloatArray

DEFAULT_PSI_EPSILON = 1e-4
DEFAULT_CHI2_SMOOTHING = 0.5
_GAMMA_EPS = 1e-15
_GAMMA_MAX_TERMS = 500
_CROSSING_TOLERANCE = 1e-12


def proportions(counts: Counts) -> FloatArray:
    """Counts as proportions along the last axis (all zeros where a row is empty)."""
    values = np.asarray(counts, dtype=np.float64)
    total = values.sum(axis=-1, keepdims=True)
    result: FloatArray = np.divide(values, total, out=np.zeros_like(values), where=total > 0)
    return result


def psi_rows(reference: Counts, window: Counts, epsilon: float = DEFAULT_PSI_EPSILON) -> FloatArray:
    """PSI of each row (last axis = slots); see `population_stability_index`."""
    p = np.maximum(proportions(reference), epsilon)
    q = np.maximum(proportions(window), epsilon)
    result: FloatArray = np.sum((q - p) * np.log(q / p), axis=-1)
    return result


def population_stability_index(
    reference: Counts, window: Counts, epsilon: float = DEFAULT_PSI_EPSILON
) -> float:
    """PSI = sum_i (q_i - p_i) * ln(q_i / p_i), each proportion floored at epsilon (1e-4)."""
    return float(psi_rows(reference, window, epsilon))


def js_rows(reference: Counts, window: Counts) -> FloatArray:
    """Jensen-Shannon distance (base 2) of each row; see `jensen_shannon_distance`."""
    p, q = np.broadcast_arrays(proportions(reference), proportions(window))
    m = (p + q) / 2.0
    safe = np.where(m > 0, m, 1.0)

    def kl(a: FloatArray) -> FloatArray:
        ratio = np.where(a > 0, a, 1.0) / safe
        terms: FloatArray = np.where(a > 0, a * np.log2(ratio), 0.0)
        result: FloatArray = terms.sum(axis=-1)
        return result

    result: FloatArray = np.sqrt(np.maximum(0.0, (kl(p) + kl(q)) / 2.0))
    return result


def jensen_shannon_distance(reference: Counts, window: Counts) -> float:
    """sqrt(JSD) with JSD = KL(P||M)/2 + KL(Q||M)/2, M = (P+Q)/2, logs base 2, so in [0, 1]."""
    return float(js_rows(reference, window))


def hellinger_rows(reference: Counts, window: Counts) -> FloatArray:
    """Hellinger distance of each row; see `hellinger_distance`."""
    p, q = proportions(reference), proportions(window)
    # The squared-difference form avoids 1 - (1 - 1e-16) cancellation for near-equal P and Q.
    result: FloatArray = np.sqrt(np.sum((np.sqrt(p) - np.sqrt(q)) ** 2, axis=-1) / 2.0)
    return result


def hellinger_distance(reference: Counts, window: Counts) -> float:
    """H = sqrt(1 - sum_i sqrt(p_i q_i)) = ||sqrt(P) - sqrt(Q)||_2 / sqrt(2), in [0, 1]."""
    return float(hellinger_rows(reference, window))


def ks_rows(reference: Counts, window: Counts) -> FloatArray:
    """KS D of each row; see `ks_statistic`."""
    p, q = proportions(reference), proportions(window)
    result: FloatArray = np.max(np.abs(np.cumsum(p, axis=-1) - np.cumsum(q, axis=-1)), axis=-1)
    return result


def ks_statistic(reference: Counts, window: Counts) -> float:
    """KS D = max_k |F_P(e_k) - F_Q(e_k)| over slot boundaries (both CDFs exact there).

    Between boundaries both CDFs are modelled as linear, so the maximum of their difference lies
    on a boundary; the raw-data D can exceed this by at most the mass the two distributions put
    inside a single bin, which is ~1/B of the reference for the quantile bins.
    """
    return float(ks_rows(reference, window))


def kolmogorov_sf(x: float) -> float:
    """P(K > x) for the Kolmogorov limit distribution.

    For x >= 1: 2 * sum_{k>=1} (-1)^(k-1) exp(-2 k^2 x^2). For smaller x that alternating series
    converges slowly, so use the Jacobi theta form of the CDF instead:
    P(K <= x) = sqrt(2 pi) / x * sum_{k>=1} exp(-(2k-1)^2 pi^2 / (8 x^2)).
    """
    if x <= 0.0:
        return 1.0
    k = np.arange(1, 101, dtype=np.float64)
    if x >= 1.0:
        terms = np.exp(-2.0 * k * k * x * x) * np.where(k % 2 == 1, 1.0, -1.0)
        return float(min(1.0, max(0.0, 2.0 * terms.sum())))
    terms = np.exp(-((2.0 * k - 1.0) ** 2) * math.pi**2 / (8.0 * x * x))
    return float(min(1.0, max(0.0, 1.0 - math.sqrt(2.0 * math.pi) / x * terms.sum())))


def ks_pvalue(d: float, n_reference: int, n_window: int) -> float:
    """Asymptotic two-sample p-value: kolmogorov_sf(D * sqrt(n m / (n + m)))."""
    if n_reference <= 0 or n_window <= 0:
        return 1.0
    effective = n_reference * n_window / (n_reference + n_window)
    return kolmogorov_sf(d * math.sqrt(effective))


def decile_boundaries(reference: Counts, groups: int = 10) -> npt.NDArray[np.intp]:
    """Slot indices ending each reference-quantile group (last = final slot), de-duplicated.

    Group j ends at the edge whose reference CDF is nearest j / groups, so with quantile fine
    bins each group holds ~1/groups of the reference; tied edges (point masses) merge groups.
    """
    cdf = np.cumsum(proportions(reference))
    targets = np.arange(1, groups) / groups
    ends = np.abs(cdf[None, :] - targets[:, None]).argmin(axis=1)
    return np.unique(np.append(ends, cdf.size - 1))


def group_counts(counts: Counts, boundaries: npt.NDArray[np.intp]) -> FloatArray:
    """Sum slots (last axis) into groups ending at `boundaries` (inclusive)."""
    cumulative = np.cumsum(np.asarray(counts, dtype=np.float64), axis=-1)[..., boundaries]
    result: FloatArray = np.diff(cumulative, axis=-1, prepend=0.0)
    return result


def chi2_sf(x: float, dof: float) -> float:
    """Chi-square survival function: Q(dof / 2, x / 2), Q the regularised upper gamma."""
    if dof <= 0:
        raise ValueError(f"dof={dof!r} must be > 0")
    return regularized_gamma_q(dof / 2.0, x / 2.0) if x > 0 else 1.0


def regularized_gamma_q(a: float, x: float) -> float:
    """Regularised upper incomplete gamma Q(a, x) = Gamma(a, x) / Gamma(a).

    For x < a + 1 the series P(a, x) = 1 - Q = e^-x x^a / Gamma(a) * sum_n x^n / (a (a+1) ...
    (a+n)); otherwise the continued fraction (modified Lentz):
    Q(a, x) = e^-x x^a / Gamma(a) * 1/(x + 1 - a - 1*(1 - a)/
    (x + 3 - a - 2*(2 - a)/(x + 5 - a - ...))).
    """
    if a <= 0 or x < 0:
        raise ValueError(f"regularized_gamma_q needs a > 0 and x >= 0, got a={a!r}, x={x!r}")
    if x == 0:
        return 1.0
    log_prefix = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1.0:
        term = total = 1.0 / a
        denominator = a
        for _ in range(_GAMMA_MAX_TERMS):
            denominator += 1.0
            term *= x / denominator
            total += term
            if abs(term) < abs(total) * _GAMMA_EPS:
                break
        return max(0.0, 1.0 - total * math.exp(log_prefix))
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, _GAMMA_MAX_TERMS):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _GAMMA_EPS:
            break
    return min(1.0, math.exp(log_prefix) * h)


def chi_square_pvalue(
    reference: Counts, window: Counts, smoothing: float = DEFAULT_CHI2_SMOOTHING
) -> float:
    """Goodness-of-fit p-value of window counts against smoothed reference frequencies.

    Expected proportion p_i = (r_i + s) / (N_r + s K) (additive smoothing s = 0.5, K slots), so a
    category the reference never saw has a small finite expectation rather than zero; the
    statistic sum_i (o_i - n p_i)^2 / (n p_i) is referred to chi-square with K - 1 dof.
    """
    r = np.asarray(reference, dtype=np.float64)
    o = np.asarray(window, dtype=np.float64)
    n = o.sum()
    if r.size < 2 or n <= 0:
        return 1.0
    expected = n * (r + smoothing) / (r.sum() + smoothing * r.size)
    statistic = float(np.sum((o - expected) ** 2 / expected))
    return chi2_sf(statistic, r.size - 1)


def wasserstein_binned(
    edges: FloatArray,
    reference: tuple[Counts, FloatArray],
    window: tuple[Counts, FloatArray],
) -> float:
    """Wasserstein-1 = integral |F_P(x) - F_Q(x)| dx from per-slot counts and value sums.

    Over a bin [a, b) holding mass m with mean mu,
    integral_a^b F(x) dx = F(a-) (b - a) + m (b - mu), since
    integral_a^b P(a <= X <= x) dx = E[(b - X) 1{a <= X < b}]; in the tails
    integral_{-inf}^{e_0} F = m_under (e_0 - mu_under) and integral_{e_B}^{inf} (1 - F) =
    m_over (mu_over - e_B). So integral (F_P - F_Q) is exact on every slot, and equals the
    integral of |F_P - F_Q| wherever the difference keeps its sign. On a bin where the difference
    changes sign between the edges it is taken as linear: w (g_a^2 + g_b^2) / (2 (|g_a| + |g_b|)).
    """
    return float(wasserstein_rows(edges, reference, window))


def _mass_and_moment(counts: Counts, sums: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per-slot mass and mass times mean (sums / n) along the last axis; zeros when empty."""
    values = np.asarray(counts, dtype=np.float64)
    total = values.sum(axis=-1, keepdims=True)
    scale = np.divide(1.0, total, out=np.zeros_like(total), where=total > 0)
    return values * scale, np.asarray(sums, dtype=np.float64) * scale


def wasserstein_rows(
    edges: FloatArray,
    reference: tuple[Counts, FloatArray],
    window: tuple[Counts, FloatArray],
) -> FloatArray:
    """Wasserstein-1 of each row (edges (..., B+1), counts and sums (..., B+2)); 0 when empty."""
    (p_counts, p_sums), (q_counts, q_sums) = reference, window
    p_mass, p_moment = _mass_and_moment(p_counts, p_sums)
    q_mass, q_moment = _mass_and_moment(q_counts, q_sums)
    empty = (p_mass.sum(axis=-1) <= 0) | (q_mass.sum(axis=-1) <= 0)
    # Per-slot mass times mean, i.e. sums / n: no division by an empty slot's count.
    moment = p_moment - q_moment
    mass = p_mass - q_mass
    after = np.cumsum(mass, axis=-1)
    before = after - mass
    widths = np.diff(edges, axis=-1)
    g_a, g_b = before[..., 1:-1], after[..., 1:-1]
    signed = g_a * widths + mass[..., 1:-1] * edges[..., 1:] - moment[..., 1:-1]
    # Rounding leaves ~1e-17 where a CDF difference is really 0; that is not a sign change.
    crossing = (g_a * g_b < 0) & (np.minimum(np.abs(g_a), np.abs(g_b)) > _CROSSING_TOLERANCE)
    linear = widths * (g_a**2 + g_b**2) / (2.0 * np.maximum(np.abs(g_a) + np.abs(g_b), 1e-300))
    # |integral of G| is a lower bound of integral |G|, so the linear model never goes below it.
    body = np.sum(np.where(crossing, np.maximum(linear, np.abs(signed)), np.abs(signed)), axis=-1)
    under = np.abs(mass[..., 0] * edges[..., 0] - moment[..., 0])
    over = np.abs(moment[..., -1] - mass[..., -1] * edges[..., -1])
    result: FloatArray = np.where(empty, 0.0, body + under + over)
    return result
