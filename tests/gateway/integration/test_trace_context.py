"""W3C trace context through the gateway (issue 18), with the real TF server and TorchServe: a
client's ``traceparent`` (HTTP header, gRPC metadata) makes the gateway's SERVER span its
child, exported over real OTLP/HTTP to a receiver on loopback, and the backend call carries
the gateway's CLIENT span context on: seen on the wire by recording proxies (process
boundaries) between the gateway and each backend, over gRPC and over REST."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import orjson
import pytest

from gateway._pb import grpc_predict_v2_pb2 as v2
from gateway._pb import grpc_predict_v2_pb2_grpc as v2_grpc
from gateway.app import create_app
from gateway.settings import GatewaySettings

pytestmark = pytest.mark.integration

KEY = "trace-key-0123456789abcdef"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def _traceparent(span_id: str) -> str:
    return f"00-{TRACE_ID}-{span_id}-01"


class _Quiet(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        return None


class _LoopbackServer:
    """A threaded HTTP server on a free loopback port, serving one handler class."""

    def _serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Receiver(_LoopbackServer):
    """An OTLP/HTTP trace receiver on loopback: decodes every export request."""

    def __init__(self) -> None:
        self.spans: list[Any] = []
        receiver = self

        class Handler(_Quiet):
            def do_POST(self) -> None:
                from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
                    ExportTraceServiceRequest,
                )

                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path == "/v1/traces":
                    request = ExportTraceServiceRequest.FromString(body)
                    for resource in request.resource_spans:
                        for scope in resource.scope_spans:
                            receiver.spans.extend(scope.spans)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._serve(Handler)


class _HttpProxy(_LoopbackServer):
    """Forwards every request to ``upstream`` and keeps each request's headers."""

    def __init__(self, upstream: str) -> None:
        self.headers: list[dict[str, str]] = []
        proxy = self

        class Handler(_Quiet):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                proxy.headers.append({k.lower(): v for k, v in self.headers.items()})
                skip = {"host", "content-length", "connection"}
                reply = httpx.request(
                    self.command,
                    upstream + self.path,
                    content=body,
                    headers={k: v for k, v in self.headers.items() if k.lower() not in skip},
                    timeout=30,
                )
                self.send_response(reply.status_code)
                for k, v in reply.headers.items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(reply.content)))
                self.end_headers()
                self.wfile.write(reply.content)

            do_GET = do_POST = _forward

        self._serve(Handler)


class _GrpcProxy(grpc.GenericRpcHandler):
    """Forwards every unary call to ``upstream`` byte for byte; keeps each call's metadata."""

    def __init__(self, upstream: str) -> None:
        self.metadata: list[dict[str, str]] = []
        self._upstream = upstream
        self._channel: Any = None
        self.server: Any = None
        self.target = ""

    async def start(self) -> None:
        self._channel = grpc.aio.insecure_channel(self._upstream)
        self.server = grpc.aio.server()
        self.server.add_generic_rpc_handlers([self])
        self.target = f"127.0.0.1:{self.server.add_insecure_port('127.0.0.1:0')}"
        await self.server.start()

    def service(self, details: Any) -> Any:
        method = details.method
        forward = self._channel.unary_unary(
            method, request_serializer=None, response_deserializer=None
        )

        async def handle(request: bytes, context: Any) -> bytes:
            metadata = dict(context.invocation_metadata() or ())
            self.metadata.append(metadata)
            passed = tuple((k, v) for k, v in metadata.items() if k not in ("user-agent",))
            try:
                reply: bytes = await forward(
                    request, metadata=passed, timeout=context.time_remaining()
                )
            except grpc.aio.AioRpcError as exc:
                await context.abort(exc.code(), exc.details() or "")
            return reply

        return grpc.unary_unary_rpc_method_handler(handle)

    async def stop(self) -> None:
        await self.server.stop(0)
        await self._channel.close()


@pytest.fixture
def stack_routes(stack) -> dict[str, Any]:
    """The live stack's route file, parsed."""
    return dict(orjson.loads(Path(stack.routes_file).read_bytes()))


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    r = _Receiver()
    yield r
    r.close()


def _attrs(span: Any) -> dict[str, Any]:
    return {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in span.attributes}


def _routes_through(
    doc: dict[str, Any], tmp_path: Path, targets: dict[str, dict[str, str]]
) -> Path:
    for backend in doc["backends"].values():
        backend.update(targets[backend["kind"]])
    path = tmp_path / "routes.json"
    path.write_bytes(orjson.dumps(doc))
    return path


def _v2_request(model: str) -> Any:
    request = v2.ModelInferRequest(model_name=model)
    request.inputs.add(name="pixels", datatype="FP32", shape=[1, 64])
    request.raw_input_contents.append(np.zeros((1, 64), np.float32).tobytes())
    return request


@pytest.mark.parametrize("transport", ["grpc", "rest"])
async def test_traceparent_over_rest_and_grpc_reaches_both_backends(
    stack_routes, receiver, monkeypatch, tmp_path, transport
) -> None:
    upstream = {b["kind"]: dict(b) for b in stack_routes["backends"].values()}
    grpc_proxies = {k: _GrpcProxy(b["grpc_target"]) for k, b in upstream.items()}
    http_proxies = {k: _HttpProxy(b["rest_url"]) for k, b in upstream.items()}
    for proxy in grpc_proxies.values():
        await proxy.start()
    try:
        targets = {
            k: {"grpc_target": grpc_proxies[k].target, "rest_url": http_proxies[k].url}
            for k in upstream
        }
        settings = GatewaySettings(
            routes_file=_routes_through(stack_routes, tmp_path, targets),
            api_keys=[KEY],
            access_log=False,
            grpc_port=0,
            routes_reload_s=0,
            prefer_grpc=transport == "grpc",
            rest_below_bytes=0,
        )
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
        app = create_app(settings)
        parents = {}
        async with app.router.lifespan_context(app):
            async with grpc.aio.insecure_channel(f"127.0.0.1:{app.state.grpc_port}") as channel:
                stub = v2_grpc.GRPCInferenceServiceStub(channel)
                for model, span_id in (
                    ("digits_mlp_tf", "00f067aa0ba90001"),
                    ("digits_mlp_torch", "00f067aa0ba90002"),
                ):
                    parents[("grpc", model)] = span_id
                    metadata = (("x-api-key", KEY), ("traceparent", _traceparent(span_id)))
                    await stub.ModelInfer(_v2_request(model), metadata=metadata, timeout=30)
            transport_ = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport_, base_url="http://gw") as client:
                for model, span_id in (
                    ("digits_mlp_tf", "00f067aa0ba90003"),
                    ("digits_mlp_torch", "00f067aa0ba90004"),
                ):
                    parents[("rest", model)] = span_id
                    reply = await client.post(
                        f"/v1/models/{model}:predict",
                        json={"instances": [[0.0] * 64]},
                        headers={"X-API-Key": KEY, "traceparent": _traceparent(span_id)},
                    )
                    assert reply.status_code == 200, reply.text
            assert app.state.tracing.force_flush()
        app.state.tracing.shutdown()
    finally:
        for proxy in grpc_proxies.values():
            await proxy.stop()
        for http_proxy in http_proxies.values():
            http_proxy.close()

    spans = receiver.spans
    by_id = {s.span_id.hex(): s for s in spans}
    upstream_spans = [s for s in spans if s.name == "upstream infer"]
    assert len(upstream_spans) == 4
    seen = (
        [m.get("traceparent") for p in grpc_proxies.values() for m in p.metadata]
        if transport == "grpc"
        else [h.get("traceparent") for p in http_proxies.values() for h in p.headers]
    )
    for child in upstream_spans:
        server = by_id[child.parent_span_id.hex()]
        assert server.trace_id.hex() == TRACE_ID
        model = _attrs(child)["tandem.model"]
        protocol = "grpc" if _attrs(server).get("rpc.system") == "grpc" else "rest"
        # The gateway's span is the child of the client's span...
        assert server.parent_span_id.hex() == parents[(protocol, model)]
        # ...and the backend call carried the upstream span's context on the wire.
        assert _traceparent(child.span_id.hex()) in seen
