"""The nested sections of the config file, validated into the policies the monitor uses.

    drift:        {method, threshold, categorical_method, categorical_threshold, min_samples,
                   dataset_share, false_alarm_rate, columns: {name: {method, threshold}}}
    performance:  {task, threshold, min_count, low_confidence, scores, max_entries, ttl_seconds}
    fairness:     {attributes: [group, "header:X-User-Group", "query:group"], favourable,
                   strip_headers, min_group_size, max_groups}
    status:       thresholds (see `sidecar.signals.thresholds.StatusThresholds`)
    redact:       [field, ...]   decoded fields dropped before any sketch or store
    reference_bootstrap: {rows}   rows used when `reference: bootstrap`
    metrics:      {features: [allow-list], bin_features}   exported feature series

Every error is a `ConfigError` naming the dotted key and the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sidecar.config import ConfigError, Settings
from sidecar.drift_rules import DriftPolicy, DriftRule
from sidecar.outcomes.counts import DEFAULT_LOW_CONFIDENCE
from sidecar.outcomes.labels import DEFAULT_THRESHOLD, SCORES
from sidecar.outcomes.performance import DEFAULT_MIN_COUNT
from sidecar.outcomes.predictions import DEFAULT_MAX_ENTRIES, DEFAULT_TTL_SECONDS
from sidecar.outcomes.windows import DEFAULT_FAVOURABLE
from sidecar.signals.thresholds import StatusThresholds

DEFAULT_BIN_FEATURES = 50
"""Exported features that get fleet-mergeable decile-bin counters (`metrics.bin_features`)."""
DEFAULT_BOOTSTRAP_ROWS = 10_000
ATTRIBUTE_SOURCES = ("feature", "header", "query")


@dataclass(frozen=True)
class Attribute:
    """A sensitive attribute: where its value comes from and its name there."""

    source: str
    name: str

    @property
    def label(self) -> str:
        return self.name if self.source == "feature" else f"{self.source}:{self.name}"


@dataclass(frozen=True)
class Policies:
    """Everything the monitor needs from the config file's sections."""

    drift: DriftPolicy = field(default_factory=DriftPolicy)
    task: str | None = None
    threshold: float = DEFAULT_THRESHOLD
    min_count: int = DEFAULT_MIN_COUNT
    low_confidence: float = DEFAULT_LOW_CONFIDENCE
    scores: str | None = None
    """`probability`: single scores (0 and 1 too) are P(class 1); `label`: never; None: learned."""
    max_entries: int = DEFAULT_MAX_ENTRIES
    ttl_seconds: float = DEFAULT_TTL_SECONDS
    attributes: tuple[Attribute, ...] = ()
    favourable: str = DEFAULT_FAVOURABLE
    strip_headers: bool = False
    min_group_size: int | None = None
    max_groups: int | None = None
    status: StatusThresholds = field(default_factory=StatusThresholds)
    redact: frozenset[str] = frozenset()
    bootstrap_rows: int = DEFAULT_BOOTSTRAP_ROWS
    metric_features: tuple[str, ...] | None = None
    bin_features: int = DEFAULT_BIN_FEATURES


def _section(settings: Settings, name: str) -> Mapping[str, Any]:
    value = settings.section(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{name}={value!r:.60} must be a mapping of keys to values")
    return value


def _get(section: Mapping[str, Any], prefix: str, key: str, kind: type, default: Any) -> Any:
    if key not in section or section[key] is None:
        return default
    value = section[key]
    try:
        if kind is bool:
            if not isinstance(value, bool):
                raise TypeError
            return value
        if kind is int and (isinstance(value, bool) or int(value) != value):
            raise TypeError
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{prefix}.{key}={value!r} is not a {kind.__name__}") from None


def _unknown(section: Mapping[str, Any], prefix: str, allowed: set[str]) -> None:
    extra = sorted(set(section) - allowed)
    if extra:
        raise ConfigError(f"{prefix}.{extra[0]} is unknown; allowed: {', '.join(sorted(allowed))}")


def _drift(section: Mapping[str, Any]) -> DriftPolicy:
    _unknown(
        section,
        "drift",
        {
            "method",
            "threshold",
            "categorical_method",
            "categorical_threshold",
            "min_samples",
            "dataset_share",
            "false_alarm_rate",
            "columns",
        },
    )
    base = DriftPolicy()
    numeric = DriftRule(
        _get(section, "drift", "method", str, base.numeric.method),
        _get(section, "drift", "threshold", float, base.numeric.threshold),
    )
    categorical = DriftRule(
        _get(section, "drift", "categorical_method", str, base.categorical.method),
        _get(section, "drift", "categorical_threshold", float, base.categorical.threshold),
    )
    overrides: dict[str, DriftRule] = {}
    columns = section.get("columns") or {}
    if not isinstance(columns, Mapping):
        raise ConfigError(f"drift.columns={columns!r:.60} must map column names to rules")
    for name, rule in columns.items():
        if not isinstance(rule, Mapping) or "method" not in rule or "threshold" not in rule:
            raise ConfigError(f"drift.columns.{name}={rule!r:.60} needs method and threshold")
        prefix = f"drift.columns.{name}"
        overrides[str(name)] = DriftRule(
            _get(rule, prefix, "method", str, None), _get(rule, prefix, "threshold", float, None)
        )
    try:
        return DriftPolicy(
            numeric=numeric,
            categorical=categorical,
            overrides=overrides,
            min_samples=_get(section, "drift", "min_samples", int, base.min_samples),
            dataset_share=_get(section, "drift", "dataset_share", float, base.dataset_share),
            false_alarm_rate=_get(
                section, "drift", "false_alarm_rate", float, base.false_alarm_rate
            ),
        )
    except ValueError as exc:
        raise ConfigError(f"drift: {exc}") from None


def _attributes(raw: Any) -> tuple[Attribute, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise ConfigError(f"fairness.attributes={raw!r:.60} must be a list of names")
    found = []
    for item in raw:
        text = str(item)
        source, _, name = text.partition(":") if ":" in text else ("feature", "", text)
        if source not in ATTRIBUTE_SOURCES or not name:
            raise ConfigError(
                f"fairness.attributes item {text!r} is not NAME, header:NAME or query:NAME"
            )
        found.append(Attribute(source, name.lower() if source == "header" else name))
    return tuple(found)


def build_policies(settings: Settings) -> Policies:
    """Validate every section; raises ConfigError naming the key and the value."""
    performance = _section(settings, "performance")
    _unknown(
        performance,
        "performance",
        {
            "task",
            "threshold",
            "min_count",
            "low_confidence",
            "scores",
            "max_entries",
            "ttl_seconds",
        },
    )
    task = _get(performance, "performance", "task", str, None)
    if task not in (None, "classification", "regression"):
        raise ConfigError(f"performance.task={task!r} is not classification or regression")
    scores = _get(performance, "performance", "scores", str, None)
    if scores not in (None, *SCORES):
        raise ConfigError(f"performance.scores={scores!r} is not one of {SCORES}")
    fairness = _section(settings, "fairness")
    _unknown(
        fairness,
        "fairness",
        {"attributes", "favourable", "strip_headers", "min_group_size", "max_groups"},
    )
    redact = settings.section("redact") or []
    if not isinstance(redact, list):
        raise ConfigError(f"redact={redact!r:.60} must be a list of field names")
    bootstrap = _section(settings, "reference_bootstrap")
    _unknown(bootstrap, "reference_bootstrap", {"rows"})
    metrics = _section(settings, "metrics")
    _unknown(metrics, "metrics", {"features", "bin_features"})
    allow = metrics.get("features")
    if allow is not None and not isinstance(allow, list):
        raise ConfigError(f"metrics.features={allow!r:.60} must be a list of feature names")
    try:
        status = StatusThresholds.from_mapping(dict(_section(settings, "status")))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return Policies(
        drift=_drift(_section(settings, "drift")),
        task=task,
        threshold=_get(performance, "performance", "threshold", float, DEFAULT_THRESHOLD),
        min_count=_get(performance, "performance", "min_count", int, DEFAULT_MIN_COUNT),
        low_confidence=_get(
            performance, "performance", "low_confidence", float, DEFAULT_LOW_CONFIDENCE
        ),
        scores=scores,
        max_entries=_get(performance, "performance", "max_entries", int, DEFAULT_MAX_ENTRIES),
        ttl_seconds=_get(performance, "performance", "ttl_seconds", float, DEFAULT_TTL_SECONDS),
        attributes=_attributes(fairness.get("attributes")),
        favourable=str(fairness.get("favourable", DEFAULT_FAVOURABLE)),
        strip_headers=_get(fairness, "fairness", "strip_headers", bool, False),
        min_group_size=_get(fairness, "fairness", "min_group_size", int, None),
        max_groups=_get(fairness, "fairness", "max_groups", int, None),
        status=status,
        redact=frozenset(str(name) for name in redact),
        bootstrap_rows=_get(bootstrap, "reference_bootstrap", "rows", int, DEFAULT_BOOTSTRAP_ROWS),
    )
