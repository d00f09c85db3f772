"""The README's quick start (`make demo`) in a fresh virtual environment with runtime deps only."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_ONLY = (
    "scipy",
    "scikit-learn",
    "fairlearn",
    "mypy",
    "ruff",
    "pytest",
    "hypothesis",
    "aiohttp",
)
"""Distributions of the test extras, which the demo must not need."""


@pytest.mark.slow
class TestQuickStart:
    """`make demo` on a machine with nothing but Python."""

    def test_make_demo_runs_with_runtime_dependencies_only(self, tmp_path: Path) -> None:
        """make demo creates the venv, installs no test extra, and the demo shows drift lines."""
        make = shutil.which("make")
        assert make is not None, "make is needed for the README's quick start"
        venv = tmp_path / "venv"
        demo_args = "--duration 8 --port 0 --admin-port 0 --model-port 0 --window-seconds 3"
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        result = subprocess.run(
            [make, "-C", str(REPO_ROOT), "demo", f"VENV={venv}", f"DEMO_ARGS={demo_args}",
             f"PYTHON={sys.executable}"],
            capture_output=True, text=True, timeout=600, env=env, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        assert "feature age" in result.stdout and "demo stopped" in result.stdout
        assert "\x1b" not in result.stdout  # not a terminal: plain lines
        listed = subprocess.run(
            [venv / "bin" / "python", "-m", "pip", "list", "--format=freeze"],
            capture_output=True, text=True, timeout=120, check=True, env=env,
        ).stdout.lower()  # fmt: skip
        installed = {line.split("==")[0] for line in listed.splitlines()}
        assert not installed & set(TEST_ONLY), sorted(installed & set(TEST_ONLY))
        assert "model-sidecar" in installed or "model_sidecar" in installed
