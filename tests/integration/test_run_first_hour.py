"""`sidecar run` for a new user: help that lists choices, listen errors, one log line each."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from servers import ThreadedUvicorn, free_port, sidecar_command

from sidecar.commands.cli import build_parser
from sidecar.config import OPTIONS, load_settings


def _help_groups(text: str) -> dict[str, str]:
    """Option flag -> the title of the --help group it is listed under."""
    groups: dict[str, str] = {}
    title = ""
    for line in text.splitlines():
        if line and not line.startswith(" ") and line.endswith(":"):
            title = line[:-1]
        elif (flag := re.match(r"^  (--[a-z-]+)", line)) is not None:
            groups[flag.group(1)] = title
    return groups


class TestRunHelp:
    """`sidecar run --help` lists choices and groups options by purpose."""

    def test_choices_are_listed(self) -> None:
        """--protocol and --log-format show every value they accept."""
        text = sidecar_command("run", "--help").stdout
        assert "--protocol {auto,kserve_v1,open_inference,mlflow,openai,generic}" in text
        assert "--log-format {text,json}" in text
        assert "--log-level {debug,info,warning,error}" in text

    def test_config_and_logging_are_not_under_proxying(self) -> None:
        """--config, --log-level and --log-format are in the general group, not in proxying."""
        groups = _help_groups(sidecar_command("run", "--help").stdout)
        for flag in ("--config", "--log-level", "--log-format"):
            assert groups[flag] == "general (config file and logging)", flag
        assert groups["--upstream"] == "proxying"
        assert {option.flag for option in OPTIONS} <= set(groups)

    def test_sample_deterministic_is_a_plain_flag(self, tmp_path: Path) -> None:
        """The flag needs no value; the variable and the YAML key still set it."""
        parser = build_parser()

        def settings(argv: list[str], environ: dict[str, str]) -> bool:
            args = parser.parse_args(["run", *argv])
            flags = {o.key: getattr(args, o.key) for o in OPTIONS}
            return load_settings(flags, environ).sample_deterministic

        assert settings(["--sample-deterministic"], {}) is True
        assert (
            settings(["--no-sample-deterministic"], {"SIDECAR_SAMPLE_DETERMINISTIC": "1"}) is False
        )
        assert settings([], {"SIDECAR_SAMPLE_DETERMINISTIC": "true"}) is True
        config = tmp_path / "c.yaml"
        config.write_text("sample_deterministic: true\n")
        assert settings(["--config", str(config)], {}) is True
        assert settings([], {}) is False
        result = sidecar_command("run", "--sample-deterministic", "--upstream", "ftp://x")
        assert "expected one argument" not in result.stderr
        assert "--upstream='ftp://x'" in result.stderr  # parsing went past the flag


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port held by a listening socket on every interface."""
    sock = socket.socket()
    sock.bind(("0.0.0.0", 0))
    sock.listen()
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


class TestListenErrors:
    """Listen problems name the address and port, and equal ports are refused at start."""

    def test_busy_proxy_port_names_address_and_port(self, busy_port: int) -> None:
        """A taken --port exits 1 with 'cannot listen on 0.0.0.0:PORT: address already in use'."""
        result = sidecar_command(
            "run", "--upstream", "http://127.0.0.1:9", "--port", str(busy_port)
        )
        assert result.returncode == 1
        assert result.stderr.strip() == (
            f"sidecar: cannot listen on 0.0.0.0:{busy_port}: address already in use"
        )

    def test_busy_admin_port_names_the_admin_address(self, busy_port: int) -> None:
        """A taken --admin-port is named with the admin listener's address."""
        result = sidecar_command(
            "run", "--upstream", "http://127.0.0.1:9", "--port", "0",
            "--admin-port", str(busy_port),
        )  # fmt: skip
        assert result.returncode == 1
        assert f"cannot listen on 127.0.0.1:{busy_port}: address already in use" in result.stderr

    def test_admin_port_equal_to_port_is_refused(self) -> None:
        """--admin-port equal to --port exits 2 before binding, saying why."""
        port = str(free_port())
        result = sidecar_command("run", "--upstream", "http://127.0.0.1:9", "--port", port,
                          "--admin-port", port)  # fmt: skip
        assert result.returncode == 2
        assert result.stderr.strip() == (
            f"sidecar: --admin-port={port} is the same as --port={port}: the proxy and the "
            "admin listener need different ports (the admin default is 9464)"
        )

    def test_equal_ports_on_different_addresses_are_allowed(self) -> None:
        """One port on two distinct loopback addresses is not a conflict."""
        from sidecar.config import Settings
        from sidecar.server import check_listeners

        check_listeners(Settings(host="127.0.0.1", admin_host="127.0.0.2", port=8000,
                                 admin_port=8000))  # fmt: skip


class TestLifecycleLogLines:
    """Start-up and shutdown are logged once each."""

    def test_each_lifecycle_line_appears_once(self, upstream: ThreadedUvicorn) -> None:
        """Run, serve one request, SIGTERM: no log line repeats, start and stop are both there."""
        port, admin = free_port(), free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "sidecar", "run", "--upstream", upstream.url,
             "--host", "127.0.0.1", "--port", str(port), "--admin-port", str(admin)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    httpx.get(f"http://127.0.0.1:{admin}/healthz")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            assert httpx.get(f"http://127.0.0.1:{port}/echo/x").status_code == 200
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=30)
        finally:
            proc.kill()
        messages = [line.split(" ", 3)[3] for line in stderr.strip().splitlines()]
        assert len(messages) == len(set(messages)), stderr
        assert messages[0].startswith(f"sidecar: proxying 127.0.0.1:{port} -> {upstream.url}")
        assert messages[-1] == "sidecar: stopped"
        assert not any("uvicorn" in m for m in messages), stderr
