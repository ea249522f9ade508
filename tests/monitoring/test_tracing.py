"""Optional tracing: with OTEL_EXPORTER_OTLP_ENDPOINT set, a request's SERVER span carries the
request id and the backend call is its CLIENT child, exported over real OTLP/HTTP to a
receiver on loopback; without it, OpenTelemetry's SDK is not even imported."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from monitoring_testkit import API_KEY, REPO

from gateway.app import create_app
from gateway.route_table import RouteTable
from gateway.settings import GatewaySettings
from tandem.configgen import routes


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[bytes]]]:
    """An OTLP/HTTP trace receiver: keeps every POST /v1/traces body."""
    bodies: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path == "/v1/traces":
                bodies.append(body)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", bodies
    finally:
        server.shutdown()
        server.server_close()


def _spans(bodies: list[bytes]) -> list[Any]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    spans = []
    for body in bodies:
        request = ExportTraceServiceRequest.FromString(body)
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                spans.extend(scope.spans)
    return spans


def _attrs(span: Any) -> dict[str, Any]:
    out = {}
    for kv in span.attributes:
        value = kv.value
        out[kv.key] = getattr(value, value.WhichOneof("value"))
    return out


async def test_request_and_upstream_spans(
    receiver, monkeypatch, demo_manifest, stand_ins, tmp_path
) -> None:
    url, bodies = receiver
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url)
    settings = GatewaySettings(api_keys=[API_KEY], access_log=False)
    table = RouteTable.model_validate_json(routes(demo_manifest, tmp_path))
    app = create_app(settings, table=table, backends=stand_ins)
    body = {
        "inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 64], "data": [0.0] * 64}]
    }
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        r = await client.post(
            "/v2/models/digits_mlp_torch/infer",
            json=body,
            headers={"X-API-Key": API_KEY, "X-Request-ID": "trace-me-1"},
        )
    assert r.status_code == 200, r.text
    assert app.state.tracing.force_flush()
    app.state.tracing.shutdown()

    spans = _spans(bodies)
    (server,) = [s for s in spans if _attrs(s).get("tandem.request_id") == "trace-me-1"]
    assert server.name == "POST /v2/models/digits_mlp_torch/infer"
    assert _attrs(server)["http.response.status_code"] == 200
    (child,) = [s for s in spans if s.name == "upstream infer"]
    assert child.parent_span_id == server.span_id
    assert child.trace_id == server.trace_id
    assert _attrs(child) == {
        "tandem.model": "digits_mlp_torch",
        "tandem.version": 1,
        "tandem.backend": "torchserve",
    }


def test_off_without_the_variable_imports_no_sdk() -> None:
    code = (
        "import os, sys\n"
        "os.environ.pop('OTEL_EXPORTER_OTLP_ENDPOINT', None)\n"
        "from gateway.app import create_app\n"
        "from gateway.settings import GatewaySettings\n"
        "from gateway.route_table import RouteTable\n"
        "t = RouteTable.model_validate({'schema_version': 1, 'backends': {}, 'models': {}})\n"
        "app = create_app(GatewaySettings(auth_disabled=True), table=t, backends={})\n"
        "print(app.state.tracing, 'opentelemetry.sdk' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["None", "False"]
