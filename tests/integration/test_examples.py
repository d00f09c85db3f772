"""The runnable examples: model server and traffic scripts, the reference example, compose file.

The compose file cannot be started here (no container engine on this machine or in CI), so its
test checks the structure instead: the services, images or builds, and that every file it mounts
from this repository exists.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sidecar.reference.profile import load_reference

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
COMPOSE = EXAMPLES / "compose" / "docker-compose.yaml"


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip


@pytest.fixture(scope="module")
def model_server() -> Iterator[str]:
    """The example model server on a free port; yields its URL, stops it with SIGINT."""
    process = _start(str(EXAMPLES / "model_server" / "server.py"), "--port", "0")
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
    try:
        assert match is not None, line + process.stderr.read() if process.stderr else line
        url = match[1]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(url + "/v2/health/ready", timeout=1).read()
                break
            except OSError:
                time.sleep(0.05)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=15)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The parsed compose file."""
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


class TestModelServerScript:
    """examples/model_server/server.py."""

    def test_answers_both_protocols(self, model_server: str) -> None:
        """The script serves v2 readiness and a KServe v1 prediction of two probabilities."""
        ready = json.loads(urllib.request.urlopen(model_server + "/v2/health/ready").read())
        assert ready["ready"] is True
        row = {"age": 40, "income": 50000, "debt_ratio": 0.3, "tenure_months": 12,
               "region": "north", "channel": "web", "group": "A"}  # fmt: skip
        request = urllib.request.Request(
            model_server + "/v1/models/credit:predict",
            data=json.dumps({"instances": [row]}).encode(),
            headers={"content-type": "application/json"},
        )
        (probabilities,) = json.loads(urllib.request.urlopen(request).read())["predictions"]
        assert len(probabilities) == 2 and sum(probabilities) == pytest.approx(1.0)


class TestTrafficScript:
    """examples/traffic.py against the example model server."""

    def test_sends_and_reports(self, model_server: str) -> None:
        """A short run sends requests, all succeed, and the final line says so."""
        run = subprocess.run(
            [sys.executable, str(EXAMPLES / "traffic.py"), "--target", model_server,
             "--rate", "40", "--duration", "2", "--shift-after", "1", "--report", "1"],
            capture_output=True, text=True, timeout=60, check=False, cwd=ROOT,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        final = re.search(r"^traffic: sent=(\d+) ok=(\d+) failed=(\d+) .* shifted=yes$",
                          run.stdout, re.M)  # fmt: skip
        assert final is not None, run.stdout
        assert int(final[1]) >= 20 and final[1] == final[2] and final[3] == "0"


class TestReferenceExample:
    """examples/reference/make_reference.py."""

    def test_writes_a_loadable_profile(self, tmp_path: Path) -> None:
        """The script writes the training CSV and a profile with every feature and the target."""
        run = subprocess.run(
            [sys.executable, str(EXAMPLES / "reference" / "make_reference.py"),
             "--out", str(tmp_path), "--rows", "800"],
            capture_output=True, text=True, timeout=60, check=False, cwd=ROOT,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        profile = load_reference(tmp_path / "reference.json")
        assert profile.rows == 800
        assert set(profile.features) == {
            "age", "income", "debt_ratio", "tenure_months", "region", "channel", "group"
        }  # fmt: skip
        assert profile.features["region"].kind == "categorical"
        assert profile.target_name == "label" and "prediction" in profile.predictions


class TestComposeExample:
    """examples/compose: structure only (no container engine here)."""

    def test_has_the_services(self, compose: dict[str, Any]) -> None:
        """Model, sidecar, collector, Prometheus and Grafana are there, each runnable."""
        services = compose["services"]
        for name in ("model", "sidecar", "otel-collector", "prometheus", "grafana", "traffic"):
            assert name in services, name
            assert "image" in services[name] or "build" in services[name], name
        assert services["sidecar"]["command"][0] == "run"
        assert any("--upstream=http://model:8080" == a for a in services["sidecar"]["command"])

    def test_mounted_files_exist(self, compose: dict[str, Any]) -> None:
        """Every bind mount from this repository names an existing file or directory."""
        named = set(compose.get("volumes", {}))
        sources = [
            volume.split(":", 1)[0]
            for service in compose["services"].values()
            for volume in service.get("volumes", [])
        ]
        for source in sources:
            if source in named:
                continue
            assert (COMPOSE.parent / source).exists(), source

    def test_ships_rules_and_dashboard(self, compose: dict[str, Any]) -> None:
        """Prometheus loads the shipped rules and Grafana the shipped dashboard."""
        prometheus = " ".join(compose["services"]["prometheus"]["volumes"])
        for rules in (ROOT / "deploy" / "rules").glob("*.yaml"):
            assert f"deploy/rules/{rules.name}" in prometheus
        config = yaml.safe_load((COMPOSE.parent / "prometheus.yml").read_text())
        assert {Path(p).name for p in config["rule_files"]} == {
            p.name for p in (ROOT / "deploy" / "rules").glob("*.yaml")
        }
        grafana = " ".join(compose["services"]["grafana"]["volumes"])
        assert "deploy/grafana/model-sidecar.json" in grafana
        collector = yaml.safe_load((COMPOSE.parent / "otel-collector.yaml").read_text())
        assert "otlp" in collector["service"]["pipelines"]["metrics"]["receivers"]
