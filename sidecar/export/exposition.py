"""Prometheus text of the window figures, written here: about a tenth of the cost per series.

A scrape of 11,500 window series spent ~0.4 s of GIL time in the OpenTelemetry exporter's
translation and prometheus_client's encoder (~35 us a series), beside the proxy. Here each
series is one formatted line (~3 us), written once per set of figures and format, and `/metrics`
appends it to the encoding of everything else (`Telemetry.exposition`).

What is printed stays exactly what the SDK path printed: the families' names, types, units and
help come from the OpenTelemetry exporter itself, probed once per process (`probe_families`);
label names must be Prometheus-legal as they are (ours are), label values are escaped and
numbers formatted as prometheus_client does, labels sorted. `tests/unit/export` compares the
two line for line in both formats.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import CollectorRegistry, Metric
from prometheus_client.utils import floatToGoString

_number = cast(Callable[[float], str], floatToGoString)
"""A number as prometheus_client prints it (Go's float formatting, +Inf, NaN)."""

Attributes = Mapping[str, str]
Points = Mapping[str, Sequence[tuple[float, Attributes]]]


@dataclass(frozen=True)
class Family:
    """One instrument as the Prometheus exporter names it."""

    name: str
    """The family's name (a counter's without `_total`)."""
    kind: str
    help: str
    unit: str
    sample: str
    """The samples' name (a counter's with `_total`)."""


@dataclass(frozen=True)
class Spec:
    """What the probe needs of an instrument."""

    name: str
    kind: str
    unit: str
    description: str


@functools.lru_cache(maxsize=8)
def probe_families(specs: tuple[Spec, ...]) -> Mapping[str, Family]:
    """Each instrument's family, from one collection of the exporter (as the sidecar sets it)."""
    registry = CollectorRegistry(auto_describe=False)
    reader = PrometheusMetricReader(
        disable_target_info=True, scope_info_enabled=False, registry=registry
    )
    provider = MeterProvider(metric_readers=[reader])
    meter = provider.get_meter("sidecar.probe")
    for spec in specs:
        create = (
            meter.create_observable_counter
            if spec.kind == "counter"
            else meter.create_observable_gauge
        )
        create(spec.name, [_one(spec.name)], unit=spec.unit, description=spec.description)
    found: dict[str, Family] = {}
    for family in registry.collect():
        for sample in family.samples:
            name = sample.labels["probe"]
            found[name] = Family(
                family.name, family.type, family.documentation, family.unit, sample.name
            )
    provider.shutdown()
    missing = [spec.name for spec in specs if spec.name not in found]
    if missing:
        raise RuntimeError(f"the Prometheus exporter printed no family for {missing}")
    return found


def _one(name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def observe(options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(1, {"probe": name})]

    return observe


def encode(points: Points, families: Mapping[str, Family], openmetrics: bool) -> str:
    """The text of every family with points, in `families`' order (OpenMetrics without EOF)."""
    out: list[str] = []
    for name, family in families.items():
        found = points.get(name)
        if not found:
            continue
        if openmetrics:
            head = family.name
            out.append(f"# HELP {head} {_help(family.help, quotes=True)}\n")
            out.append(f"# TYPE {head} {family.kind}\n")
            if family.unit:
                out.append(f"# UNIT {head} {family.unit}\n")
        else:
            head = family.sample if family.kind == "counter" else family.name
            out.append(f"# HELP {head} {_help(family.help, quotes=False)}\n")
            out.append(f"# TYPE {head} {family.kind}\n")
        sample = family.sample
        for value, attributes in found:
            if attributes:
                labels = ",".join(
                    f'{key}="{_value(str(attributes[key]))}"' for key in sorted(attributes)
                )
                out.append(f"{sample}{{{labels}}} {_number(value)}\n")
            else:
                out.append(f"{sample} {_number(value)}\n")
    return "".join(out)


def _value(text: str) -> str:
    """A label value escaped as prometheus_client escapes it (backslash, newline, quote)."""
    if "\\" in text or "\n" in text or '"' in text:
        return text.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return text


def _help(text: str, quotes: bool) -> str:
    escaped = text.replace("\\", r"\\").replace("\n", r"\n")
    return escaped.replace('"', r"\"") if quotes else escaped


class FamiliesCollector:
    """The same families as prometheus_client metrics, for a registry that must hold them all.

    `Telemetry.registry` (what tests and `metric_names` read) includes them through this; the
    `/metrics` answer uses `encode` instead.
    """

    def __init__(self, points: Callable[[], Points], families: Mapping[str, Family]) -> None:
        self._points = points
        self._families = families

    def describe(self) -> list[Metric]:
        """Nothing: registering must not compute the figures."""
        return []

    def collect(self) -> Iterator[Metric]:
        """One metric per family with points."""
        points = self._points()
        for name, family in self._families.items():
            found = points.get(name)
            if not found:
                continue
            metric = Metric(family.name, family.help, family.kind, family.unit)
            for value, attributes in found:
                labels = {key: str(label) for key, label in attributes.items()}
                metric.add_sample(family.sample, labels, value)
            yield metric
