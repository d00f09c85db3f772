"""Every PromQL expression of the shipped Grafana dashboard returns data from a real Prometheus
scraping a sidecar with traffic, labels and fairness, with the recording rules loaded."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from labelled_sidecar import labelled_sidecar, send_labelled
from prom import needs_prometheus, running_prometheus

pytestmark = [pytest.mark.prometheus, needs_prometheus]

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "model-sidecar.json"
RULES = ROOT / "deploy" / "rules" / "sidecar-recording.yaml"


def _queries() -> list[str]:
    path = ROOT / "tests" / "deploy" / "dashboard_queries.py"
    spec = importlib.util.spec_from_file_location("dashboard_queries", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    found: list[str] = module.dashboard_queries(DASHBOARD)
    return found


def _is_llm(query: str) -> bool:
    """LLM row queries need LLM traffic: tests/integration/test_genai.py runs those."""
    return "gen_ai_" in query


class TestDashboardQueries:
    def test_every_dashboard_query_returns_data(self, tmp_path: Path) -> None:
        """After two bursts of labelled traffic, each of the dashboard's queries has a result."""
        queries = [q for q in _queries() if not _is_llm(q)]
        assert len(queries) >= 20
        with labelled_sidecar(tmp_path) as sc:
            target = sc.admin_url.removeprefix("http://")
            with running_prometheus(tmp_path / "prom", [target], rules=[RULES]) as prom:
                prom.wait_for("up == 1")
                send_labelled(sc, seed=1)
                # A second burst a few scrapes later, so rate() over 1m has an increase to show.
                prom.wait_for("count_over_time(up[1m]) >= 3")
                send_labelled(sc, seed=2)
                prom.wait_for("model_sidecar:feature_psi:fleet_5m")
                prom.wait_for("sum(rate(sidecar_feedback_labels_total[1m])) > 0")
                empty = [q for q in queries if not prom.query(q)]
        assert empty == []
