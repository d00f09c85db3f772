"""The chart's install NOTES name real commands and state the chart's real addresses; the KServe
examples guard the admin port with a token from a Secret."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_tools import (
    CHART_DIR,
    REPO_ROOT,
    documents,
    helm_env,
    helm_template,
    pod_containers,
    require_tool,
    run,
)

from sidecar.commands.cli import build_parser

EXAMPLES = REPO_ROOT / "examples" / "kubernetes"
CASES = {"default": None} | {p.stem: p for p in sorted(EXAMPLES.glob("values-*.yaml"))}


@pytest.fixture(scope="module")
def helm() -> Path:
    """The helm binary."""
    return require_tool("helm")


def _notes(helm: Path, tmp: Path, values: Path | None) -> str:
    """The NOTES `helm install` prints, rendered offline (--dry-run=client)."""
    command: list[str | Path] = [helm, "install", "release", CHART_DIR, "-n", "ml"]
    command += ["--dry-run=client", *(["-f", values] if values else [])]
    result = run(command, env=helm_env(tmp))
    assert result.returncode == 0, result.stderr
    return result.stdout.split("NOTES:\n", 1)[1]


def _sidecar_commands(notes: str) -> list[list[str]]:
    """Every `sidecar ...` command line in the NOTES, without its trailing comment."""
    return [
        shlex.split(line.split("#", 1)[0])
        for line in notes.splitlines()
        if line.strip().startswith("sidecar ")
    ]


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {
        item["name"]: item.get("value", item.get("valueFrom")) for item in container.get("env", [])
    }


@pytest.mark.parametrize("case", list(CASES))
class TestNotes:
    """What `helm install` tells a new user."""

    def test_sidecar_commands_exist_and_parse(self, helm: Path, tmp_path: Path, case: str) -> None:
        """Each sidecar command in the NOTES parses with the real CLI and its --help exits 0."""
        commands = _sidecar_commands(_notes(helm, tmp_path, CASES[case]))
        assert any(c[1] == "profile" for c in commands), commands
        for command in commands:
            build_parser().parse_args(command[1:])  # exits 2 on an unknown command or option
            help_run = subprocess.run(
                [sys.executable, "-m", "sidecar", command[1], "--help"],
                capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
            assert help_run.returncode == 0, help_run.stderr

    def test_stated_addresses_match_the_rendered_pod(
        self, helm: Path, tmp_path: Path, case: str
    ) -> None:
        """The upstream, the model's bind address and the admin address said are those rendered."""
        notes = _notes(helm, tmp_path, CASES[case])
        rendered = helm_template(helm, tmp_path, *([CASES[case]] if CASES[case] else []))
        by_name = {c["name"]: c for _, c in pod_containers(documents(rendered.stdout))}
        sidecar, model = _env(by_name["sidecar"]), _env(by_name["model"])
        assert f"which forwards to {sidecar['SIDECAR_UPSTREAM']}." in notes
        if model.get("MLSERVER_HOST") == "127.0.0.1":
            assert "The model binds 127.0.0.1:8080" in notes
        else:
            assert "binds 127.0.0.1" not in notes and "other pods can reach it" in notes
        unguarded = "No admin token" in notes
        assert unguarded == ("SIDECAR_ADMIN_TOKEN_FILE" not in sidecar)
        if unguarded:
            assert f"listens on {sidecar['SIDECAR_ADMIN_HOST']}" in notes


class TestKServeExamples:
    """The KServe examples never open the admin port on the pod network without a token."""

    def test_values_file_takes_the_token_from_a_secret(self, helm: Path, tmp_path: Path) -> None:
        """The KServe-style values mount a Secret and pass its file as the admin token."""
        rendered = helm_template(helm, tmp_path, EXAMPLES / "values-kserve-style.yaml")
        docs = documents(rendered.stdout)
        sidecar = next(c for _, c in pod_containers(docs) if c["name"] == "sidecar")
        assert _env(sidecar)["SIDECAR_ADMIN_TOKEN_FILE"].startswith("/var/run/secrets/")
        secrets = [
            v["secret"]["secretName"]
            for d in docs
            if d["kind"] == "Deployment"
            for v in d["spec"]["template"]["spec"]["volumes"]
            if "secret" in v
        ]
        assert secrets == ["iris-sidecar-admin"]

    def test_inference_service_snippet_guards_the_admin_port(self) -> None:
        """The README's InferenceService reads the token from a mounted Secret, not an open port."""
        text = (EXAMPLES / "README.md").read_text()
        block = re.search(r"```yaml\n(apiVersion: serving\.kserve\.io.*?)```", text, re.S)
        assert block is not None
        spec = yaml.safe_load(block.group(1))["spec"]["predictor"]
        sidecar = next(c for c in spec["containers"] if c["name"] == "sidecar")
        env = _env(sidecar)
        token_file = env["SIDECAR_ADMIN_TOKEN_FILE"]
        mounts = {m["name"]: m["mountPath"] for m in sidecar["volumeMounts"]}
        secret_volumes = {v["name"] for v in spec["volumes"] if "secret" in v}
        assert any(token_file.startswith(mounts[name]) for name in secret_volumes)
        assert env.get("SIDECAR_ADMIN_HOST", "0.0.0.0") != "0.0.0.0" or token_file
