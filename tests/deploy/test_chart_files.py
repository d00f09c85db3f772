"""The chart's copies of the shipped rules and dashboard match their sources."""

from __future__ import annotations

import subprocess

from deploy_tools import CHART_DIR, REPO_ROOT

SOURCES = {
    "rules": (REPO_ROOT / "deploy" / "rules", "*.yaml"),
    "grafana": (REPO_ROOT / "deploy" / "grafana", "*.json"),
}


class TestChartFiles:
    def test_copies_are_identical_to_sources(self) -> None:
        """Each file under helm/model-sidecar/files has the same bytes as its deploy/ source."""
        for folder, (source_dir, pattern) in SOURCES.items():
            sources = {path.name: path.read_bytes() for path in source_dir.glob(pattern)}
            copies = {
                path.name: path.read_bytes()
                for path in (CHART_DIR / "files" / folder).glob(pattern)
            }
            assert sources, f"no {pattern} in {source_dir}"
            assert copies == sources, "stale chart files: run scripts/sync-chart-files.sh"

    def test_sync_script_check_mode_agrees(self) -> None:
        """scripts/sync-chart-files.sh --check exits 0 when the copies are current."""
        result = subprocess.run(
            ["bash", str(REPO_ROOT / "scripts" / "sync-chart-files.sh"), "--check"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
