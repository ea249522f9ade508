"""``create_app(settings)``: wire settings, route table, adapters, dataplane and routers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from starlette.types import ASGIApp

from gateway import __version__
from gateway.backends.base import Backend
from gateway.backends.registry import build_backend, build_backends, wrap
from gateway.dataplane.service import DataPlane
from gateway.deps import AppState
from gateway.grpc.server import GrpcFrontDoor
from gateway.metrics import GatewayMetrics
from gateway.middleware import GatewayMiddleware
from gateway.reload import RouteReloader
from gateway.route_table import RouteTable, load_route_table
from gateway.routers import ops, ui, v1, v2
from gateway.routers.errors import install_error_handlers
from gateway.routers.hot import HotPath, hot_routes
from gateway.schemas import v1 as v1_schemas
from gateway.schemas import v2 as v2_schemas
from gateway.security.keys import KeyStore
from gateway.security.ratelimit import RateLimiter
from gateway.settings import GatewaySettings
from gateway.tracing import Tracing, tracing_from_env

#: Request bodies documented by reference (the handlers read raw bytes, not these models).
_BODY_MODELS: tuple[type[BaseModel], ...] = (
    v1_schemas.PredictRequest,
    v1_schemas.ExampleRequest,
    v2_schemas.InferenceRequest,
)


def create_app(
    settings: GatewaySettings,
    *,
    table: RouteTable | None = None,
    backends: Mapping[str, Backend] | None = None,
) -> FastAPI:
    """Build the gateway app. ``table`` and ``backends`` replace the route file and the real
    adapters (tests inject a failure-injecting fake backend here). Only a table read from
    ``settings.routes_file`` is watched for changes (every ``routes_reload_s``)."""
    keys = KeyStore.from_settings(settings)
    if not settings.auth_disabled and not len(keys):
        raise ValueError(
            "no API keys configured: set TANDEM_GATEWAY_API_KEYS / TANDEM_GATEWAY_API_KEYS_FILE,"
            " or TANDEM_GATEWAY_AUTH_DISABLED=true on a loopback bind"
        )
    watch = table is None and settings.routes_reload_s > 0
    table = table or load_route_table(settings.routes_file)
    resilient = (
        {name: wrap(backend, settings) for name, backend in backends.items()}
        if backends is not None
        else build_backends(table, settings)
    )
    metrics = GatewayMetrics()
    tracing = tracing_from_env()
    dataplane = DataPlane(table, resilient, settings, metrics, tracing=tracing)
    build = None if backends is not None else lambda n, c: build_backend(n, c, settings)
    reloader = RouteReloader(
        settings.routes_file,
        settings.routes_reload_s if watch else 0.0,
        lambda new: dataplane.replace_table(new, build),
    )

    @asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[None]:
        front_door = None
        if settings.grpc_port is not None:
            front_door = GrpcFrontDoor(app_.state.gateway, tracing)
            app_.state.grpc_port = await front_door.start()
        reloader.start()
        try:
            yield
        finally:
            if front_door is not None:
                await front_door.stop()
            await reloader.stop()
            await dataplane.aclose()
            if tracing is not None:
                tracing.shutdown()

    app = FastAPI(
        title="Tandem gateway",
        version=__version__,
        summary="TF Serving REST (v1) and Open Inference Protocol (v2) over TF Serving and "
        "TorchServe.",
        lifespan=lifespan,
    )
    app.state.reloader = reloader
    app.state.tracing = tracing
    app.state.gateway = AppState(
        settings=settings,
        dataplane=dataplane,
        metrics=metrics,
        keys=keys,
        limiter=RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst),
    )
    install_error_handlers(app)
    app.include_router(ops.router)
    app.include_router(v1.router)
    app.include_router(v2.health)
    app.include_router(v2.router)
    app.include_router(ui.router)
    _front_door(app, settings, metrics, tracing)
    _document_raw_bodies(app)
    return app


def _front_door(
    app: FastAPI, settings: GatewaySettings, metrics: GatewayMetrics, tracing: Tracing | None
) -> None:
    """One front door: every request first meets :class:`GatewayMiddleware` (request id, body
    limit, content coding, access log), then the lean inference path; what that does not
    serve goes on into Starlette's own stack (its error, body-limit and telemetry layers,
    then FastAPI's routing). Inference never pays for those layers."""
    routes = hot_routes(app, {**v1.HOT_HANDLERS, **v2.HOT_HANDLERS})
    build_stack = app.build_middleware_stack

    def build() -> ASGIApp:
        return GatewayMiddleware(
            HotPath(build_stack(), routes=routes),
            max_body_bytes=settings.max_body_bytes,
            metrics=metrics,
            access_log=settings.access_log,
            tracing=tracing,
        )

    app.build_middleware_stack = build  # type: ignore[method-assign]


def _document_raw_bodies(app: FastAPI) -> None:
    """Add the raw-body request schemas to the OpenAPI components."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, summary=app.summary, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in _BODY_MODELS:
            model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(model_schema.pop("$defs", {}))
            components[model.__name__] = model_schema
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
