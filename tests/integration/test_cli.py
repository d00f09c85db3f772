"""The `sidecar` command: help, config errors with exit 2, graceful SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from servers import ThreadedUvicorn, free_port, sidecar_command


class TestHelp:
    def test_help_lists_commands_and_run_explains_every_option(self) -> None:
        """`sidecar --help` names run; `sidecar run --help` names each option and its env var."""
        top = sidecar_command("--help")
        assert top.returncode == 0 and "run" in top.stdout
        run = sidecar_command("run", "--help")
        from sidecar.config import OPTIONS

        for option in OPTIONS:
            assert option.flag in run.stdout and option.env in run.stdout


class TestConfigErrors:
    @pytest.mark.parametrize(
        ("args", "env", "expected"),
        [
            (
                ["--upstream", "ftp://x"],
                {},
                "--upstream='ftp://x' is not an http:// or https:// URL",
            ),
            (["--upstream", "http://x", "--port", "70000"], {}, "--port='70000' is not an integer"),
            (
                ["--upstream", "http://x"],
                {"SIDECAR_SAMPLE_RATE": "abc"},
                "SIDECAR_SAMPLE_RATE='abc' is not a number in [0, 1]",
            ),
            ([], {}, "upstream is required"),
        ],
    )
    def test_invalid_values_exit_2_naming_key_and_value(
        self, args: list[str], env: dict[str, str], expected: str
    ) -> None:
        """A bad flag or variable exits 2 with one line naming the key and the value."""
        result = sidecar_command("run", *args, env=env)
        assert result.returncode == 2
        assert expected in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1

    def test_unknown_file_key_and_malformed_yaml_exit_2(self, tmp_path: Path) -> None:
        """An unknown key or broken YAML in the config file exits 2 and says which."""
        unknown = tmp_path / "unknown.yaml"
        unknown.write_text("upstream: http://x\nprot: 80\n")
        result = sidecar_command("run", "--config", str(unknown))
        assert result.returncode == 2 and "'prot' is unknown" in result.stderr
        broken = tmp_path / "broken.yaml"
        broken.write_text("upstream: [http://x\n")
        result = sidecar_command("run", "--config", str(broken))
        assert result.returncode == 2 and "not valid YAML" in result.stderr


class TestGracefulShutdown:
    def test_sigterm_finishes_the_in_flight_request_then_exits_0(
        self, upstream: ThreadedUvicorn
    ) -> None:
        """SIGTERM during a slow request: the request completes, then the process exits 0."""
        port, admin = free_port(), free_port()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sidecar",
                "run",
                "--upstream",
                upstream.url,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--admin-port",
                str(admin),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"http://127.0.0.1:{admin}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            result: dict[str, object] = {}

            def slow() -> None:
                result["response"] = httpx.get(f"http://127.0.0.1:{port}/slow?s=1.5", timeout=10)

            thread = threading.Thread(target=slow)
            thread.start()
            time.sleep(0.5)
            proc.send_signal(signal.SIGTERM)
            thread.join(10)
            code = proc.wait(20)
        finally:
            proc.kill()
            _, stderr = proc.communicate()
        response = result["response"]
        assert isinstance(response, httpx.Response) and response.status_code == 200
        assert code == 0, stderr
