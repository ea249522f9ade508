"""`tandem rollout` waits for the gateway before it retires old versions: against a real
HTTP server on loopback that plays the gateway's model-status answers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tandem.errors import StackError
from tandem.manifest import ModelSpec, load_manifest
from tandem.stack.process import free_port
from tandem.stack.rollout import _wait_for_gateway

MANIFEST = """\
models:
  - name: digits
    framework: pytorch
    format: torchscript
    source: examples.digits.torch_models:train_mlp
    version: 2
    inputs: [{name: pixels, dtype: float32, shape: [-1, 64]}]
    outputs: [{name: label, dtype: int64, shape: [-1]}]
"""


class FakeGateway(ThreadingHTTPServer):
    status = 200
    versions: list[int] = [1]  # noqa: RUF012  # replaced per test
    seen_auth: list[str | None]


class Handler(BaseHTTPRequestHandler):
    server: FakeGateway

    def do_GET(self) -> None:
        self.server.seen_auth.append(self.headers.get("Authorization"))
        body = json.dumps(
            {"model_version_status": [{"version": str(v)} for v in self.server.versions]}
        ).encode()
        self.send_response(self.server.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def spec(tmp_path: Path) -> ModelSpec:
    path = tmp_path / "models.yaml"
    path.write_text(MANIFEST)
    return load_manifest(path).model("digits")


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    server = FakeGateway(("127.0.0.1", 0), Handler)
    server.seen_auth = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _url(server: FakeGateway) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_returns_once_the_gateway_lists_the_new_version(
    gateway: FakeGateway, spec: ModelSpec, tmp_path: Path
) -> None:
    key = tmp_path / "api_key"
    key.write_text("tdm_key\n")

    def reload_later() -> None:
        time.sleep(0.5)
        gateway.versions = [2]

    threading.Thread(target=reload_later, daemon=True).start()
    t0 = time.monotonic()
    _wait_for_gateway(_url(gateway), key, [spec], reload_s=1.0, timeout=10)
    assert 0.4 < time.monotonic() - t0 < 5
    assert gateway.seen_auth[-1] == "Bearer tdm_key"


def test_a_gateway_that_never_lists_it_stops_the_rollout(
    gateway: FakeGateway, spec: ModelSpec
) -> None:
    with pytest.raises(StackError, match=r"did not list digits versions \[2\]"):
        _wait_for_gateway(_url(gateway), None, [spec], reload_s=1.0, timeout=0.5)


def test_without_a_key_it_waits_two_reload_periods(gateway: FakeGateway, spec: ModelSpec) -> None:
    gateway.status = 401
    t0 = time.monotonic()
    _wait_for_gateway(_url(gateway), None, [spec], reload_s=0.2, timeout=10)
    assert 0.85 < time.monotonic() - t0 < 5


def test_no_gateway_running_means_nothing_to_wait_for(spec: ModelSpec) -> None:
    # Waiting for a listing would end in StackError at the timeout; returning means it did not.
    _wait_for_gateway(f"http://127.0.0.1:{free_port()}", None, [spec], reload_s=1.0, timeout=10)
