"""The Dockerfile: hadolint, the structure the issue asks for, and the pinned requirements.

Building and running the image is in test_image.py (opt-in: it needs podman and takes a while);
these checks need only the file and hadolint.
"""

from __future__ import annotations

import json
import re
import tomllib

from deploy_tools import REPO_ROOT, require_tool, run
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

DOCKERFILE = REPO_ROOT / "Dockerfile"
REQUIREMENTS = REPO_ROOT / "docker" / "requirements.txt"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    pairs = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def _pins() -> dict[str, str]:
    pins = {}
    for line in REQUIREMENTS.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    return pins


class TestDockerfile:
    def test_hadolint_is_clean(self) -> None:
        """hadolint reports nothing on the Dockerfile."""
        hadolint = require_tool("hadolint")
        result = run([hadolint, str(DOCKERFILE)])
        assert result.returncode == 0, result.stdout + result.stderr

    def test_multi_stage_on_an_official_slim_python_base(self) -> None:
        """Two stages from ARG BASE_IMAGE, which defaults to the official slim Python image."""
        instructions = _instructions()
        froms = [rest for keyword, rest in instructions if keyword == "FROM"]
        assert len(froms) >= 2
        assert all(rest.startswith("${BASE_IMAGE}") for rest in froms)
        assert ("ARG", "BASE_IMAGE=python:3.11-slim-bookworm") in instructions

    def test_runtime_stage_needs_no_shell_and_runs_as_numeric_non_root(self) -> None:
        """The runtime stage has no RUN, a numeric non-root USER and exec-form entrypoint."""
        final = _final_stage()
        keywords = [keyword for keyword, _ in final]
        assert "RUN" not in keywords
        (user,) = [rest for keyword, rest in final if keyword == "USER"]
        uid = user.split(":")[0]
        assert uid.isdigit() and int(uid) != 0
        assert json.loads(dict(final)["ENTRYPOINT"]) == ["sidecar"]
        assert json.loads(dict(final)["CMD"]) == ["run"]

    def test_ports_volume_and_labels(self) -> None:
        """Both ports are exposed, the state dir is the only volume, OCI labels are set."""
        final = dict(_final_stage())
        assert set(final["EXPOSE"].split()) == {"8000", "9464"}
        assert json.loads(final["VOLUME"]) == ["/var/lib/sidecar"]
        for key in ("title", "description", "version", "revision", "licenses"):
            assert f"org.opencontainers.image.{key}=" in final["LABEL"]
        assert "SIDECAR_STATE_DIR=/var/lib/sidecar" in final["ENV"]
        assert "TMPDIR=/var/lib/sidecar" in final["ENV"]

    def test_dockerignore_admits_only_the_build_inputs(self) -> None:
        """.dockerignore excludes everything but what the build copies."""
        lines = (REPO_ROOT / ".dockerignore").read_text().splitlines()
        assert lines[1] == "*" or "*" in lines
        assert "!docker/requirements.txt" in lines and "!sidecar/" in lines


class TestPinnedRequirements:
    def test_every_runtime_dependency_is_pinned_compatibly(self) -> None:
        """Each [project.dependencies] entry is pinned with == to a version it accepts."""
        pins = _pins()
        project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
        for line in project["dependencies"]:
            requirement = Requirement(line)
            name = canonicalize_name(requirement.name)
            assert name in pins, f"{name} is not pinned in docker/requirements.txt"
            assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]}"

    def test_no_test_only_dependency_is_pinned(self) -> None:
        """Test extras that are not runtime needs (pytest, mypy, scipy...) stay out of the image."""
        pins = _pins()
        for name in ("pytest", "mypy", "ruff", "scipy", "scikit-learn", "hypothesis", "fairlearn"):
            assert name not in pins
