"""Helpers of the fault and abuse suite: captured pairs, subprocess sidecars, raw sockets."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from servers import free_port


class SidecarSubprocess:
    """`python -m sidecar run` in a child process, stderr collected to a file."""

    def __init__(self, upstream: str, log_path: Path, *args: str) -> None:
        self.port, self.admin_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin_url = f"http://127.0.0.1:{self.admin_port}"
        self.log_path = log_path
        command = [sys.executable, "-m", "sidecar", "run", "--upstream", upstream]
        command += ["--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--admin-port", str(self.admin_port), *args]
        self._log = open(log_path, "ab")  # closed in stop()
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=self._log, env={**os.environ}
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until /healthz answers (raises RuntimeError when the process died)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sidecar exited {self.process.returncode}: {self.log()}")
            try:
                if httpx.get(self.admin_url + "/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError(f"sidecar did not start: {self.log()}")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, wait for the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            return self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self._log.close()

    def log(self) -> str:
        """Everything the process wrote to stderr so far."""
        self._log.flush()
        return self.log_path.read_text(errors="replace")


class RecordingUpstream:
    """A raw TCP upstream that records every byte it receives and answers 200 `ok`."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self._lock = threading.Lock()
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(2)
        data = b""
        with conn:
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                if data:
                    conn.sendall(OK_RESPONSE)
                    # Whatever else arrives on this connection is recorded too.
                    while chunk := conn.recv(65536):
                        data += chunk
            except OSError:
                pass
        with self._lock:
            self.received.append(data)

    def everything(self) -> bytes:
        """All bytes received so far, joined."""
        with self._lock:
            return b"".join(self.received)

    def close(self) -> None:
        """Stop accepting."""
        self._listener.close()


OK_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


def exchange(port: int, raw: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes to 127.0.0.1:port and read until the server closes (or times out)."""
    answer = b""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(timeout)
        sock.sendall(raw)
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return answer
