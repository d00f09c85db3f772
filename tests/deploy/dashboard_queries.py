"""Every PromQL expression of a Grafana dashboard, made runnable against a plain Prometheus.

Template variables are substituted so each query selects everything: `$namespace`, `$model`,
`$feature` and `$statistic` (always used inside `=~` matchers) become `.*`, which also matches
series without the label, as outside Kubernetes; Grafana's interval variables become `1m`.
`label_values(metric, label)` variable queries become `group by (label) (metric)`.

Stdlib only, so other tests can load it by path:
    spec = importlib.util.spec_from_file_location("dashboard_queries", path_to_this_file)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DEFAULT_RANGE = "1m"
MATCH_ALL = ".*"
_INTERVALS = ("$__rate_interval", "$__interval", "$__range", "${__rate_interval}")
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")
_LABEL_VALUES = re.compile(r"^label_values\((?P<metric>.+),\s*(?P<label>\w+)\)$", re.S)


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for item in panels:
        yield item
        yield from _panels(item.get("panels", []))


def substitute(expr: str, interval: str = DEFAULT_RANGE) -> str:
    """The expression with Grafana's variables replaced by match-all values and `interval`."""
    for name in _INTERVALS:
        expr = expr.replace(name, interval)

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name.startswith("__"):
            raise ValueError(f"unsupported Grafana variable {match.group(0)!r} in {expr!r}")
        return MATCH_ALL

    return _VARIABLE.sub(replace, expr)


def _variable_query(variable: dict[str, Any]) -> str | None:
    query = variable.get("query")
    if isinstance(query, dict):
        query = query.get("query")
    if variable.get("type") != "query" or not isinstance(query, str):
        return None
    match = _LABEL_VALUES.match(query.strip())
    if match is None:
        raise ValueError(f"variable {variable.get('name')!r}: unsupported query {query!r}")
    return f"group by ({match['label']}) ({match['metric']})"


def dashboard_queries(path: str | Path, interval: str = DEFAULT_RANGE) -> list[str]:
    """Every distinct PromQL expression of the dashboard at `path`, variables substituted."""
    dashboard = json.loads(Path(path).read_text())
    found: list[str] = []
    for variable in dashboard.get("templating", {}).get("list", []):
        query = _variable_query(variable)
        if query is not None:
            found.append(substitute(query, interval))
    for panel in _panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            if target.get("expr"):
                found.append(substitute(target["expr"], interval))
    return list(dict.fromkeys(found))
