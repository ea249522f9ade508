"""A two-model stack (one per backend) run through the real `tandem up` CLI on free ports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tandem.stack.process import free_port

MINI = """\
servers:
  tfserving: {{grpc_port: {tf_grpc}, rest_port: {tf_rest}}}
  torchserve:
    inference_port: {ts_inf}
    management_port: {ts_mgmt}
    metrics_port: {ts_metrics}
    grpc_inference_port: {ts_grpc}
    grpc_management_port: {ts_grpc_mgmt}
  gateway: {{port: {gw}, grpc_port: {gw_grpc}}}
models:
  - name: digits_mlp_tf
    framework: tensorflow
    source: examples.digits.keras_models:train_mlp
    version: {v}
    inputs: [{{name: pixels, dtype: float32, shape: [-1, 64]}}]
    outputs:
      - {{name: probabilities, dtype: float32, shape: [-1, 10]}}
      - {{name: label, dtype: int64, shape: [-1]}}
  - name: digits_mlp_torch
    framework: pytorch
    format: torchscript
    source: examples.digits.torch_models:train_mlp
    version: {v}
    inputs: [{{name: pixels, dtype: float32, shape: [-1, 64]}}]
    outputs:
      - {{name: probabilities, dtype: float32, shape: [-1, 10]}}
      - {{name: label, dtype: int64, shape: [-1]}}
"""

PORTS = (
    "tf_grpc",
    "tf_rest",
    "ts_inf",
    "ts_mgmt",
    "ts_metrics",
    "ts_grpc",
    "ts_grpc_mgmt",
    "gw",
    "gw_grpc",
)


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tandem.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class MiniStack:
    """The MINI manifest in a temp dir: write a version, export it, run `tandem up`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ports = {k: free_port() for k in PORTS}
        self.manifest = root / "models.yaml"
        self.out = root / "build"
        self.log_path = root / "up.log"
        self.up: subprocess.Popen[bytes] | None = None

    def write(self, version: int) -> None:
        self.manifest.write_text(MINI.format(v=version, **self.ports))

    @staticmethod
    def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """`tandem ARGS...` in a subprocess, output captured."""
        return cli(*args, timeout=timeout)

    def url(self, port: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[port]}{path}"

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def start(self, *extra: str, env: dict[str, str] | None = None, limit_s: float = 300) -> None:
        """`tandem up` in the background; returns once it printed "ready."."""
        with self.log_path.open("wb") as log:
            self.up = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tandem.cli",
                    "up",
                    "--manifest",
                    str(self.manifest),
                    "--out",
                    str(self.out),
                    *extra,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**(env if env is not None else os.environ), "COLUMNS": "200"},
            )
        deadline = time.monotonic() + limit_s
        while "ready." not in self.log():
            assert self.up.poll() is None, self.log()
            assert time.monotonic() < deadline, "tandem up never became ready"
            time.sleep(1)

    def services(self) -> dict[str, int]:
        """Service name → pid, as `tandem up` recorded them for `tandem down`."""
        state = json.loads((self.out / "run" / "stack.json").read_text())
        return {str(k): int(v) for k, v in state["services"].items()}

    def tree(self) -> list[psutil.Process]:
        procs = [psutil.Process(pid) for pid in self.services().values()]
        return procs + [c for p in procs for c in p.children(recursive=True)]

    def gateway_key(self) -> str:
        """The development API key `tandem up` made for its gateway."""
        return (self.out / "run" / "api_key").read_text().strip()

    def torchserve_token(self) -> str:
        data = json.loads((self.out / "torchserve" / "key_file.json").read_text())
        return str(data["inference"]["key"])

    def stop(self) -> None:
        if self.up is not None and self.up.poll() is None:
            cli("down", "--out", str(self.out))
            try:
                self.up.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.up.kill()


@pytest.fixture
def mini_stack(tmp_path: Path) -> Iterator[MiniStack]:
    stack = MiniStack(tmp_path)
    try:
        yield stack
    finally:
        stack.stop()
