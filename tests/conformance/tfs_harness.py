"""Start and stop the server under test as a subprocess (shared by both test folders).

Every wait has a deadline; stop() terminates, then kills after a timeout.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A currently free loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``python -m tf_serving.server.main`` on free loopback ports."""

    def __init__(self, *flags: str, log_path: Path, cwd: Path | None = None) -> None:
        self.grpc_port = free_port()
        self.rest_port = free_port()
        self.rest_url = f"http://127.0.0.1:{self.rest_port}"
        self.grpc_target = f"127.0.0.1:{self.grpc_port}"
        self.log_path = log_path
        self.root = cwd  # where relative model paths live, for tests that add versions
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO_ROOT))
        self._log: IO[bytes] = log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tf_serving.server.main",
                "--host=127.0.0.1",
                f"--port={self.grpc_port}",
                f"--rest_api_port={self.rest_port}",
                *flags,
            ],
            cwd=cwd or REPO_ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log_text(self) -> str:
        """The server's combined output so far."""
        return self.log_path.read_text(errors="replace")

    def wait_available(self, models: dict[str, int], timeout: float = 90.0) -> None:
        """Wait until each model reports at least ``n`` AVAILABLE versions."""
        deadline = time.monotonic() + timeout
        pending = dict(models)
        with httpx.Client(base_url=self.rest_url, timeout=5.0) as client:
            while pending:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"server exited with {self.proc.returncode}:\n{self.log_text()[-4000:]}"
                    )
                if time.monotonic() > deadline:
                    raise TimeoutError(f"models not ready: {pending}\n{self.log_text()[-4000:]}")
                for name, want in list(pending.items()):
                    try:
                        body = client.get(f"/v1/models/{name}").json()
                    except (httpx.HTTPError, ValueError):
                        break
                    states = [v["state"] for v in body.get("model_version_status", [])]
                    if states.count("AVAILABLE") >= want:
                        del pending[name]
                time.sleep(0.2)

    def stop(self, timeout: float = 10.0) -> int:
        """Terminate, then kill after ``timeout``; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        self._log.close()
        return int(self.proc.returncode)


def run_server_expecting_exit(
    *flags: str, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run the server with flags that should make it exit (e.g. bad config)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO_ROOT))
    return subprocess.run(
        [sys.executable, "-m", "tf_serving.server.main", "--host=127.0.0.1", *flags],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
