"""Build the container image with podman and run it read-only in front of a real upstream.

Opt-in (SIDECAR_TEST_IMAGE=1): a build takes about a minute and needs podman and a base image
made locally, since no image registry is reachable here. Set SIDECAR_TEST_BASE_IMAGE to an image
with Python 3.11 (e.g. one imported from `debootstrap --include=python3,python3-venv bookworm`);
the shipped Dockerfile keeps the official python:3.11-slim-bookworm default. pip inside the build
reaches PyPI through the host network; SIDECAR_TEST_PIP_CERT (default: the system CA bundle)
is passed as the build secret `pip_cert` for TLS-intercepting proxies.
Without the opt-in, test_dockerfile.py still checks the Dockerfile with hadolint and its structure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from deploy_tools import REPO_ROOT
from servers import free_port, serve_app, upstream_app

IMAGE = "localhost/model-sidecar:test"
DEFAULT_PIP_CERT = "/etc/ssl/certs/ca-certificates.crt"
RUN_FLAGS = [
    "--runtime", "runc",
    "--network", "host",
    "--read-only",
    "--ulimit", "nofile=10000:10000",
    "--ulimit", "nproc=1000:1000",
]  # fmt: skip

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("SIDECAR_TEST_IMAGE") != "1",
        reason="image build is opt-in: set SIDECAR_TEST_IMAGE=1 (takes about a minute)",
    ),
]


def _podman(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args], capture_output=True, text=True, check=False, timeout=timeout
    )


@pytest.fixture(scope="module")
def image() -> str:
    """The image built from the repo's Dockerfile on the local base image."""
    base = os.environ.get("SIDECAR_TEST_BASE_IMAGE")
    if shutil.which("podman") is None or not base:
        pytest.fail("SIDECAR_TEST_IMAGE=1 needs podman and SIDECAR_TEST_BASE_IMAGE")
    command = ["build", "--isolation=chroot", "--network=host", "-t", IMAGE]
    command += ["--build-arg", f"BASE_IMAGE={base}"]
    cert = os.environ.get("SIDECAR_TEST_PIP_CERT", DEFAULT_PIP_CERT)
    if cert and os.path.exists(cert):
        command += ["--secret", f"id=pip_cert,src={cert}"]
    result = _podman(*command, str(REPO_ROOT))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return IMAGE


@pytest.fixture(scope="module")
def container(image: str) -> Iterator[tuple[str, str]]:
    """The image running read-only against a real upstream: (proxy URL, admin URL)."""
    with serve_app(upstream_app()) as upstream:
        port, admin_port = free_port(), free_port()
        name = f"sidecar-test-{uuid.uuid4().hex[:8]}"
        env = [
            f"SIDECAR_UPSTREAM={upstream.url}",
            f"SIDECAR_PORT={port}",
            f"SIDECAR_ADMIN_PORT={admin_port}",
            "SIDECAR_HOST=127.0.0.1",
            "SIDECAR_ADMIN_HOST=127.0.0.1",
        ]
        flags = [*RUN_FLAGS, "--name", name, "--detach"]
        for pair in env:
            flags += ["--env", pair]
        started = _podman("run", *flags, image)
        assert started.returncode == 0, started.stderr
        admin = f"http://127.0.0.1:{admin_port}"
        try:
            _wait_healthy(admin, name)
            yield f"http://127.0.0.1:{port}", admin
        finally:
            _podman("rm", "--force", "--time", "5", name, timeout=60)


def _wait_healthy(admin: str, name: str) -> None:
    for _ in range(300):
        try:
            if httpx.get(f"{admin}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    logs = _podman("logs", name).stderr
    pytest.fail(f"container never became healthy: {logs[-2000:]}")


class TestImage:
    def test_runs_as_configured_user_with_entrypoint(self, image: str) -> None:
        """The built image runs as 10001 with ENTRYPOINT sidecar and CMD run."""
        result = _podman("image", "inspect", image, "--format",
                         "{{.Config.User}} {{.Config.Entrypoint}} {{.Config.Cmd}}")  # fmt: skip
        assert result.stdout.strip() == "10001:10001 [sidecar] [run]"

    def test_proxies_and_serves_metrics_read_only(self, container: tuple[str, str]) -> None:
        """On a read-only root filesystem it proxies a request and exposes /metrics."""
        proxy, admin = container
        body = b'{"instances": [[1.0, 2.0]]}'
        response = httpx.post(f"{proxy}/echo/abc", content=body, timeout=10)
        assert response.status_code == 200
        assert httpx.get(f"{admin}/readyz", timeout=5).status_code == 200
        metrics = httpx.get(f"{admin}/metrics", timeout=5).text
        assert "http_server_request_duration_seconds" in metrics
