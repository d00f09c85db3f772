"""Shipped Prometheus rules: promtool checks and unit-tests every alert; the docs match."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "deploy" / "rules"
ALERTS = RULES / "sidecar-alerts.yaml"
LLM_ALERTS = RULES / "sidecar-llm.yaml"
RECORDING = RULES / "sidecar-recording.yaml"
TESTS = sorted((RULES / "tests").glob("*.yaml"))
PROMTOOL = shutil.which("promtool") or (
    "/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None
)
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (CI installs it)"
)


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], capture_output=True, text=True, timeout=120, check=False
    )


def _alert_rules() -> list[dict[str, Any]]:
    docs = [yaml.safe_load(path.read_text()) for path in (ALERTS, LLM_ALERTS)]
    return [rule for doc in docs for group in doc["groups"] for rule in group["rules"]]


@needs_promtool
class TestPromtool:
    def test_rule_files_are_valid(self) -> None:
        """`promtool check rules` accepts every rule file."""
        result = _promtool("check", "rules", str(ALERTS), str(LLM_ALERTS), str(RECORDING))
        assert result.returncode == 0, result.stdout + result.stderr

    def test_rule_unit_tests_pass(self) -> None:
        """`promtool test rules` passes every unit test file."""
        result = _promtool("test", "rules", *map(str, TESTS))
        assert result.returncode == 0, result.stdout + result.stderr

    def test_a_wrong_expectation_fails(self, tmp_path: Path) -> None:
        """The unit tests can fail: a wrong expected PSI makes promtool exit non-zero."""
        text = (RULES / "tests" / "sidecar-recording.test.yaml").read_text()
        broken = tmp_path / "broken.test.yaml"
        broken.write_text(
            text.replace("- 0.8385833681656718)", "- 0.9)").replace("../", f"{RULES}/")
        )
        assert _promtool("test", "rules", str(broken)).returncode != 0


class TestAlertDefinitions:
    def test_every_alert_has_for_severity_and_annotations(self) -> None:
        """Each alert has a `for:`, a severity and summary/description/runbook annotations."""
        for rule in _alert_rules():
            assert rule.get("for"), rule["alert"]
            assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
            assert {"summary", "description", "runbook_url"} <= set(rule["annotations"])

    def test_every_alert_has_a_unit_test(self) -> None:
        """Each alert name appears as an alert_rule_test in the promtool tests."""
        tested = {
            case["alertname"]
            for path in TESTS
            for group in yaml.safe_load(path.read_text())["tests"]
            for case in group.get("alert_rule_test", [])
        }
        assert {rule["alert"] for rule in _alert_rules()} <= tested

    def test_runbook_anchors_exist(self) -> None:
        """Every runbook_url points at a section heading of docs/alerts.md."""
        headings = re.findall(r"^## (\S+)", (ROOT / "docs" / "alerts.md").read_text(), re.M)
        anchors = {h.lower() for h in headings}
        for rule in _alert_rules():
            url = rule["annotations"]["runbook_url"]
            assert url.startswith("docs/alerts.md#"), url
            assert url.split("#", 1)[1] in anchors, url

    def test_metric_names_are_catalogued(self) -> None:
        """Every sidecar_/http_/gen_ai_ metric an alert reads is in docs/metrics.md."""
        catalogue = (ROOT / "docs" / "metrics.md").read_text()
        for rule in _alert_rules():
            for name in re.findall(r"\b((?:sidecar|http|gen_ai)_[a-z_]+)", rule["expr"]):
                base = re.sub(r"_(bucket|count|sum)$", "", name)
                assert f"`{base}`" in catalogue, f"{rule['alert']}: {name}"


class TestFleetPsiOracle:
    def test_expected_psi_matches_numpy(self) -> None:
        """The PSI the promtool test expects equals numpy's on the test's merged counts."""
        doc = yaml.safe_load((RULES / "tests" / "sidecar-recording.test.yaml").read_text())
        group = doc["tests"][0]
        rows: dict[str, float] = {}
        reference: dict[str, float] = {}
        for item in group["input_series"]:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', item["series"]))
            # The rules count the tails in the end groups, as sidecar.drift's PSI does.
            bin_label = {"under": "0", "over": "9"}.get(labels["bin"], labels["bin"])
            if item["series"].startswith("sidecar_feature_bin_rows_total"):
                per_minute = float(item["values"].split("+")[1].split("x")[0])
                rows[bin_label] = rows.get(bin_label, 0.0) + per_minute
            elif labels["instance"] == "a":  # every replica exports the same reference
                value = float(item["values"].split("x")[0])
                reference[bin_label] = reference.get(bin_label, 0.0) + value
        bins = sorted(reference)
        counts = np.array([rows.get(b, 0.0) for b in bins])
        p = np.maximum(counts / counts.sum(), 1e-4)
        q = np.maximum(np.array([reference[b] for b in bins]), 1e-4)
        expected = float(np.sum((p - q) * np.log(p / q)))
        expr = group["promql_expr_test"][0]["expr"]
        written = float(re.search(r"- ([0-9.]+)\)", expr).group(1))  # type: ignore[union-attr]
        assert written == pytest.approx(expected, abs=1e-12)
