"""Seeded distributions with and without shift, shared by the statistics oracle tests and bench."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

FloatArray = npt.NDArray[np.float64]
Sampler = Callable[[np.random.Generator, int, float], FloatArray]


def _normal(rng: np.random.Generator, n: int, shift: float) -> FloatArray:
    return rng.normal(shift, 1.0, n)


def _lognormal(rng: np.random.Generator, n: int, shift: float) -> FloatArray:
    return rng.lognormal(shift, 0.8, n)


def _uniform(rng: np.random.Generator, n: int, shift: float) -> FloatArray:
    return rng.uniform(shift, 1.0 + shift, n)


def _bimodal(rng: np.random.Generator, n: int, shift: float) -> FloatArray:
    left = rng.random(n) < 0.5 - shift / 4
    return np.where(left, rng.normal(-2.0, 0.5, n), rng.normal(2.0, 0.7, n))


def _heavy_tailed(rng: np.random.Generator, n: int, shift: float) -> FloatArray:
    return rng.standard_t(2.5, n) * (1.0 + shift)


def _integer(rng: np.random.Generator, n: int, shift: float) -> FloatArray:
    return rng.poisson(4.0 + 2.0 * shift, n).astype(np.float64)


DISTRIBUTIONS: dict[str, Sampler] = {
    "normal": _normal,
    "lognormal": _lognormal,
    "uniform": _uniform,
    "bimodal": _bimodal,
    "heavy_tailed": _heavy_tailed,
    "integer": _integer,
}
"""Name -> sampler(rng, n, shift); shift 0 is the reference distribution."""

SHIFTS = (0.0, 0.5)


def sample(name: str, n: int, shift: float = 0.0, seed: int = 0) -> FloatArray:
    """n seeded draws of a named distribution with a shift (0 = reference)."""
    return DISTRIBUTIONS[name](np.random.default_rng(seed), n, shift)


def categories(n: int, shift: float = 0.0, seed: int = 0, levels: int = 8) -> list[str]:
    """n seeded draws of `levels` categories, Zipf-like; shift moves mass to the rarer ones."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, levels + 1) ** (1.0 - shift)
    names = [f"c{i}" for i in range(levels)]
    return [names[i] for i in rng.choice(levels, n, p=weights / weights.sum())]


def assert_close(got: object, want: object) -> None:
    """Equal structures with floats equal to 1e-9 relative (sums merge in another order)."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys()
        for key in want:
            assert_close(got[key], want[key])
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want)
        for a, b in zip(got, want, strict=True):
            assert_close(a, b)
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12)
    else:
        assert got == want
