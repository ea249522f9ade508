"""The gRPC server of the gateway: grpc.aio in the gateway's own process and event loop.

``create_app`` starts it in its lifespan when ``TANDEM_GATEWAY_GRPC_PORT`` is set and stops it
(with a short grace for calls in flight) before the dataplane closes its backends.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from google.protobuf.message_factory import GetMessageClass

from gateway._pb import grpc_predict_v2_pb2, model_service_pb2, prediction_service_pb2
from gateway.deps import AppState
from gateway.grpc.call import CallRunner
from gateway.grpc.oip import InferenceService
from gateway.grpc.tfs import ModelService, PredictionService
from gateway.tracing import Tracing

log = logging.getLogger("gateway.grpc")

STOP_GRACE_S = 5.0


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _Malformed:
    """What the deserializer hands on for bytes that are not the message (answered below)."""

    def __init__(self, type_name: str, error: DecodeError) -> None:
        self.text = f"request is not a valid {type_name} message: {error}"


def _parser(cls: Any) -> Callable[[bytes], Any]:
    name = cls.DESCRIPTOR.full_name

    def parse(data: bytes) -> Any:
        try:
            return cls.FromString(data)
        except DecodeError as exc:
            return _Malformed(name, exc)

    return parse


def _guarded(method: Callable[[Any, Any], Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if isinstance(request, _Malformed):
            # grpc would answer a deserializer error as UNKNOWN; this is the client's fault.
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.text)
        return await method(request, context)

    return handle


def _handlers(module: Any, service: str, servicer: Any) -> grpc.GenericRpcHandler:
    """The service's unary methods, from its descriptor, with a deserializer that never
    raises; a method the servicer does not define is left out (UNIMPLEMENTED)."""
    descriptor = module.DESCRIPTOR.services_by_name[service]
    methods = {}
    for method in descriptor.methods:
        implementation = getattr(type(servicer), method.name, None)
        if implementation is None or getattr(implementation, "__module__", "").startswith(
            "gateway._generated"
        ):
            continue
        methods[method.name] = grpc.unary_unary_rpc_method_handler(
            _guarded(getattr(servicer, method.name)),
            request_deserializer=_parser(GetMessageClass(method.input_type)),
            response_serializer=GetMessageClass(method.output_type).SerializeToString,
        )
    return grpc.method_handlers_generic_handler(descriptor.full_name, methods)


class GrpcFrontDoor:
    """One ``grpc.aio.Server`` serving the three services on ``settings.grpc_port``."""

    def __init__(self, state: AppState, tracing: Tracing | None) -> None:
        settings = state.settings
        if settings.grpc_port is None:
            raise ValueError("grpc_port is not set")
        limit = settings.grpc_max_message_bytes
        self._server: Any = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", limit),
                ("grpc.max_send_message_length", limit),
                # A second server on the same port must fail, not share it silently.
                ("grpc.so_reuseport", 0),
            ]
        )
        runner = CallRunner(state, tracing)
        self._server.add_generic_rpc_handlers(
            [
                _handlers(grpc_predict_v2_pb2, "GRPCInferenceService", InferenceService(runner)),
                _handlers(prediction_service_pb2, "PredictionService", PredictionService(runner)),
                _handlers(model_service_pb2, "ModelService", ModelService(runner)),
            ]
        )
        self._address = _address(settings.host, settings.grpc_port)
        self.port: int | None = None

    async def start(self) -> int:
        """Bind and start serving; returns the bound port (``RuntimeError`` if it is taken)."""
        try:
            self.port = int(self._server.add_insecure_port(self._address))
        except RuntimeError as exc:
            raise RuntimeError(f"gRPC: cannot bind {self._address}: {exc}") from exc
        await self._server.start()
        log.info("gRPC front door listening", extra={"address": self._address, "port": self.port})
        return self.port

    async def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Refuse new calls and let the ones in flight finish for up to ``grace_s``."""
        await self._server.stop(grace_s)
