"""The Grafana dashboard: generated, type-checked against @grafana/schema, catalogue names only.

That every query returns data from a real Prometheus scraping a sidecar with traffic is checked
by the integration suite, with `dashboard_queries` from this folder.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from dashboard_queries import dashboard_queries, substitute
from deploy_tools import REPO_ROOT, require_tool, run, tools_dir

DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "model-sidecar.json"
GENERATOR = REPO_ROOT / "deploy" / "grafana" / "build_dashboard.py"
RECORDING_RULES = {"model_sidecar:feature_psi:fleet_5m"}
# Grafana's value-mapping kinds as the MappingType enum names them in @grafana/schema.
MAPPING_ENUM = {
    "value": "ValueToText",
    "range": "RangeToText",
    "regex": "RegexToText",
    "special": "SpecialValue",
}
_ENUM_MARK = re.compile(r'"__enum__(\w+\.\w+)"')
PROMQL_WORDS = {
    "sum", "max", "by", "rate", "increase", "histogram_quantile", "or", "vector", "ignoring",
    "group_left", "on", "le", "bool", "scalar", "min",
}  # fmt: skip


def _dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def _catalogue() -> set[str]:
    """Prometheus names in docs/metrics.md, with the series a histogram adds."""
    names = set(re.findall(r"^\| `(\w+)`", (REPO_ROOT / "docs" / "metrics.md").read_text(), re.M))
    return names | {f"{name}_{suffix}" for name in names for suffix in ("bucket", "count", "sum")}


def _as_typescript(dashboard: dict[str, Any]) -> str:
    """The dashboard as a TypeScript literal; string enums become enum members.

    A JSON import would widen "value" to string, which no string enum accepts; an inline literal
    keeps literal types and also gets excess-property checks on every nested object.
    """

    def mark(node: Any, in_mappings: bool = False) -> Any:
        if isinstance(node, dict):
            out = {key: mark(value, key == "mappings") for key, value in node.items()}
            if in_mappings and out.get("type") in MAPPING_ENUM:
                out["type"] = f"__enum__MappingType.{MAPPING_ENUM[out['type']]}"
            return out
        if isinstance(node, list):
            return [mark(item, in_mappings) for item in node]
        return node

    literal = _ENUM_MARK.sub(r"\1", json.dumps(mark(dashboard), indent=2))
    return (
        "import { MappingType } from '@grafana/schema';\n"
        "import type { Dashboard } from '@grafana/schema';\n"
        f"export const dashboard: Dashboard = {literal};\n"
    )


class TestDashboardFile:
    def test_file_is_the_generator_output(self) -> None:
        """model-sidecar.json is exactly what build_dashboard.py prints."""
        result = subprocess.run(
            [sys.executable, str(GENERATOR)], capture_output=True, text=True, check=True
        )
        assert result.stdout == DASHBOARD.read_text()

    def test_type_checks_against_grafana_schema(self, tmp_path: Path) -> None:
        """tsc --strict accepts the dashboard as @grafana/schema's Dashboard type."""
        tsc = require_tool("tsc")
        (tmp_path / "node_modules").symlink_to(tools_dir() / "node" / "node_modules")
        (tmp_path / "dashboard.ts").write_text(_as_typescript(_dashboard()))
        options = ["--strict", "--noEmit", "--resolveJsonModule", "--skipLibCheck"]
        options += ["--module", "esnext", "--moduleResolution", "bundler", "--target", "es2022"]
        result = run([tsc, *options, "dashboard.ts"], cwd=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr

    def test_type_check_rejects_a_misspelt_key(self, tmp_path: Path) -> None:
        """The same check fails on a panel key the schema does not know, so it can fail."""
        tsc = require_tool("tsc")
        broken = _dashboard()
        broken["panels"][1]["gridPosition"] = broken["panels"][1].pop("gridPos")
        (tmp_path / "node_modules").symlink_to(tools_dir() / "node" / "node_modules")
        (tmp_path / "dashboard.ts").write_text(_as_typescript(broken))
        options = ["--strict", "--noEmit", "--skipLibCheck", "--moduleResolution", "bundler"]
        result = run([tsc, *options, "--module", "esnext", "dashboard.ts"], cwd=tmp_path)
        assert result.returncode != 0 and "gridPosition" in result.stdout

    def test_template_variables(self) -> None:
        """Datasource, namespace, model, feature and statistic selectors exist."""
        names = {v["name"] for v in _dashboard()["templating"]["list"]}
        assert names == {"datasource", "namespace", "model", "feature", "statistic"}

    def test_required_panels(self) -> None:
        """RED, drift table, statistic series, heatmap, quality, performance, fairness panels,
        and the LLM row's TTFT, time per output token, tokens/s and finish-reason panels."""
        panels = _dashboard()["panels"]
        rows = {p["title"] for p in panels if p["type"] == "row"}
        expected = {"Traffic (RED)", "Drift", "Data quality", "Performance", "Fairness"}
        assert expected | {"LLM serving"} <= rows
        titles = {p["title"] for p in panels}
        llm = {"Time to first token", "Time per output token", "Output tokens per second"}
        assert llm | {"Finish reasons (share)"} <= titles
        kinds = {p["type"] for p in panels}
        assert {"table", "heatmap", "timeseries", "stat"} <= kinds
        table = next(p for p in panels if p["type"] == "table")
        assert any("sidecar_feature_drift_detected" in t["expr"] for t in table["targets"])

    def test_panel_ids_and_positions_are_unique(self) -> None:
        """No two panels share an id or overlap on the grid."""
        panels = _dashboard()["panels"]
        assert len({p["id"] for p in panels}) == len(panels)
        cells = set()
        for p in panels:
            pos = p["gridPos"]
            for x in range(pos["x"], pos["x"] + pos["w"]):
                for y in range(pos["y"], pos["y"] + pos["h"]):
                    assert (x, y) not in cells, p["title"]
                    cells.add((x, y))


class TestDashboardQueries:
    def test_only_catalogue_metric_names(self) -> None:
        """Every metric a query reads is in docs/metrics.md or is the fleet PSI recording rule."""
        allowed = _catalogue() | RECORDING_RULES
        for query in dashboard_queries(DASHBOARD):
            stripped = re.sub(r'\{[^}]*\}|"[^"]*"|\[[^\]]*\]|by \([^)]*\)|on \([^)]*\)', "", query)
            stripped = re.sub(r"(ignoring|group by) \([^)]*\)", "", stripped)
            for name in re.findall(r"[a-z_:][a-z0-9_:]*", stripped):
                if name not in PROMQL_WORDS and name not in {"group", "ln", "clamp_min"}:
                    assert name in allowed, f"{name} in {query}"

    def test_every_query_is_substituted(self) -> None:
        """No Grafana variable is left, and every panel and variable query is returned."""
        queries = dashboard_queries(DASHBOARD)
        assert all("$" not in query for query in queries)
        targets = [t for p in _dashboard()["panels"] for t in p.get("targets", [])]
        assert len(queries) >= len({t["expr"] for t in targets})
        assert "group by (namespace) (sidecar_capture_requests_total)" in queries

    def test_substitute_matches_everything(self) -> None:
        """Selector variables become .* and interval variables a fixed range."""
        expr = 'rate(x{model=~"$model", feature=~"${feature}"}[$__rate_interval])'
        assert substitute(expr) == 'rate(x{model=~".*", feature=~".*"}[1m])'
        with pytest.raises(ValueError, match="__from"):
            substitute("x offset $__from")
