"""Reference profiles: what a model was trained on, per column, as a versioned JSON document.

A numeric column keeps count, missing, min, max, mean, population std, fine bin edges at
reference quantiles (e_0 = min, e_B = max + 1 ulp, strictly increasing; B <= 112 by default after
merging tied quantiles) with the reference count and value sum in each bin plus under/overflow
slots (zero for the data the edges came from). A categorical column keeps the counts of its top-K
categories (default 100) and of everything else ("other"). Profiles are built by
`sidecar.reference.builder.ProfileBuilder`; this module only holds, validates and (de)serialises
them. Loading rejects a malformed document with a ValueError naming the field and the value.

Document shape (version 1):
    {"format": "sidecar-reference", "version": 1, "rows": n,
     "features": {name: column}, "predictions": {name: column}, "target": column | null,
     "target_name": str | null, "outcomes": outcomes | null}
    column = {"kind": "numeric", "count", "missing", "invalid", "min", "max", "mean", "std",
              "edges": [...], "counts": [...], "sums": [...]}
           | {"kind": "categorical", "count", "missing", "invalid",
              "categories": [[name, count], ...], "other": n}
    outcomes = {"classes", "calibration": [map | null per class], "threshold", "metrics",
                "score_counts": [1000 counts], "rows"}   (`sidecar.outcomes.calibration`)
A version-1 document without `outcomes` (written before it existed) loads with outcomes None.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from sidecar.outcomes.calibration import OutcomeProfile
from sidecar.sketches.values import FloatArray

FORMAT_NAME = "sidecar-reference"
FORMAT_VERSION = 1
KINDS = ("numeric", "categorical")


@dataclass(frozen=True)
class ColumnProfile:
    """Reference summary of one column (numeric fields are None for categorical columns)."""

    kind: str
    count: int
    missing: int = 0
    invalid: int = 0
    minimum: float | None = None
    maximum: float | None = None
    mean: float | None = None
    std: float | None = None
    edges: tuple[float, ...] = ()
    counts: tuple[int, ...] = ()
    sums: tuple[float, ...] = ()
    categories: tuple[tuple[str, int], ...] = ()
    other: int = 0

    @cached_property
    def edges_array(self) -> FloatArray:
        """Bin edges as a numpy array (shared by every window sketch of this column)."""
        return np.asarray(self.edges, dtype=np.float64)

    @cached_property
    def category_names(self) -> tuple[str, ...]:
        """Reference categories in profile order."""
        return tuple(name for name, _ in self.categories)

    def valid_range(self, tolerance: float = 0.0) -> tuple[float, float] | None:
        """[min - tol * range, max + tol * range] for a numeric column, else None."""
        if self.kind != "numeric" or self.minimum is None or self.maximum is None:
            return None
        spread = tolerance * (self.maximum - self.minimum)
        return (self.minimum - spread, self.maximum + spread)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        base: dict[str, Any] = {
            "kind": self.kind,
            "count": self.count,
            "missing": self.missing,
            "invalid": self.invalid,
        }
        if self.kind == "categorical":
            base["categories"] = [[name, count] for name, count in self.categories]
            base["other"] = self.other
            return base
        base.update(min=self.minimum, max=self.maximum, mean=self.mean, std=self.std)
        base.update(edges=list(self.edges), counts=list(self.counts), sums=list(self.sums))
        return base

    @classmethod
    def from_dict(cls, data: Any, where: str = "column") -> ColumnProfile:
        """Validate and restore; raises ValueError naming the offending field and value."""
        if not isinstance(data, Mapping):
            raise ValueError(f"{where}: expected an object, got {data!r:.80}")
        kind = data.get("kind")
        if kind not in KINDS:
            raise ValueError(f"{where}.kind: {kind!r} is not one of {KINDS}")
        fields: dict[str, Any] = {
            k: _count(data.get(k, 0), f"{where}.{k}") for k in ("count", "missing", "invalid")
        }
        if kind == "categorical":
            fields.update(_categorical_fields(data, where))
        else:
            fields.update(_numeric_fields(data, where))
        return cls(kind, **fields)


def _count(value: Any, where: str) -> int:
    """A non-negative integer field."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where}: {value!r:.80} is not a non-negative integer")
    return value


def _number(value: Any, where: str) -> float:
    """A finite number field."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{where}: {value!r:.80} is not a finite number")
    return float(value)


def _numeric_fields(data: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Validated numeric-column fields."""
    edges = data.get("edges")
    if not isinstance(edges, list) or len(edges) < 2:
        raise ValueError(f"{where}.edges: expected a list of >= 2 numbers, got {edges!r:.80}")
    edge_values = tuple(_number(v, f"{where}.edges[{i}]") for i, v in enumerate(edges))
    if any(b <= a for a, b in pairwise(edge_values)):
        raise ValueError(f"{where}.edges: must be strictly increasing")
    out: dict[str, Any] = {"edges": edge_values}
    for name, convert in (("counts", _count), ("sums", _number)):
        values = data.get(name)
        if not isinstance(values, list) or len(values) != len(edges) + 1:
            raise ValueError(
                f"{where}.{name}: expected a list of {len(edges) + 1} values (edges + 1), "
                f"got {values!r:.80}"
            )
        out[name] = tuple(convert(v, f"{where}.{name}[{i}]") for i, v in enumerate(values))
    for key, attr in (("min", "minimum"), ("max", "maximum"), ("mean", "mean"), ("std", "std")):
        out[attr] = _number(data.get(key), f"{where}.{key}")
    if out["std"] < 0:
        raise ValueError(f"{where}.std: {out['std']!r} is negative")
    return out


def _categorical_fields(data: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Validated categorical-column fields."""
    raw = data.get("categories")
    if not isinstance(raw, list):
        raise ValueError(f"{where}.categories: expected a list of [name, count], got {raw!r:.80}")
    categories: list[tuple[str, int]] = []
    for i, item in enumerate(raw):
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
            raise ValueError(f"{where}.categories[{i}]: {item!r:.80} is not [name, count]")
        categories.append((item[0], _count(item[1], f"{where}.categories[{i}][1]")))
    if len({name for name, _ in categories}) != len(categories):
        raise ValueError(f"{where}.categories: names must be unique")
    return {
        "categories": tuple(categories),
        "other": _count(data.get("other", 0), f"{where}.other"),
    }


@dataclass(frozen=True)
class ReferenceProfile:
    """A versioned reference profile: feature, prediction and optional target columns."""

    features: Mapping[str, ColumnProfile]
    predictions: Mapping[str, ColumnProfile] = field(default_factory=dict)
    rows: int = 0
    target: ColumnProfile | None = None
    target_name: str | None = None
    version: int = FORMAT_VERSION
    outcomes: OutcomeProfile | None = None
    """Calibration, realised figures and scores of the reference's model outputs, if given."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form (see the module docstring)."""
        return {
            "format": FORMAT_NAME,
            "version": self.version,
            "rows": self.rows,
            "features": {k: v.to_dict() for k, v in self.features.items()},
            "predictions": {k: v.to_dict() for k, v in self.predictions.items()},
            "target": None if self.target is None else self.target.to_dict(),
            "target_name": self.target_name,
            "outcomes": None if self.outcomes is None else self.outcomes.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Any) -> ReferenceProfile:
        """Validate and restore; raises ValueError with the reason for a malformed profile."""
        if not isinstance(data, Mapping):
            raise ValueError(f"reference profile: expected a JSON object, got {data!r:.80}")
        if data.get("format") != FORMAT_NAME:
            raise ValueError(f"format: {data.get('format')!r} is not {FORMAT_NAME!r}")
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(f"version: {data.get('version')!r} is not supported (expected 1)")
        groups: dict[str, dict[str, ColumnProfile]] = {}
        for group in ("features", "predictions"):
            raw = data.get(group, {})
            if not isinstance(raw, Mapping):
                raise ValueError(f"{group}: expected an object, got {raw!r:.80}")
            groups[group] = {
                str(k): ColumnProfile.from_dict(v, f"{group}.{k}") for k, v in raw.items()
            }
        target = data.get("target")
        target_name = data.get("target_name")
        if target_name is not None and not isinstance(target_name, str):
            raise ValueError(f"target_name: {target_name!r:.80} is not a string")
        outcomes = data.get("outcomes")
        return cls(
            features=groups["features"],
            predictions=groups["predictions"],
            rows=_count(data.get("rows", 0), "rows"),
            target=None if target is None else ColumnProfile.from_dict(target, "target"),
            target_name=target_name,
            outcomes=None if outcomes is None else OutcomeProfile.from_dict(outcomes),
        )


def load_reference(path: str | Path) -> ReferenceProfile:
    """Read and validate a profile; raises ValueError with the path and the reason."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read reference profile: {exc.strerror}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from exc
    try:
        return ReferenceProfile.from_dict(data)
    except ValueError as exc:
        raise ValueError(f"{path}: malformed reference profile: {exc}") from exc


def save_reference(profile: ReferenceProfile, path: str | Path) -> None:
    """Write a profile as JSON (atomically: a temporary file renamed into place)."""
    target = Path(path)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text(json.dumps(profile.to_dict(), indent=1) + "\n", encoding="utf-8")
    temporary.replace(target)
