"""``create_app(settings)``: wire settings, route table, adapters, dataplane and routers.

The app, outermost first::

    GatewayMiddleware (request id, body limit, content coding, in-flight gauge, sampled
    access log, tracing, JSON 500) -> InferenceDispatch:
        POST :predict / /infer  -> the endpoint of gateway.routers.inference (auth, core
                                   handler, the one GatewayError answer), nothing between
        everything else         -> Starlette: ServerErrorMiddleware -> ExceptionMiddleware
                                   -> router -> FastAPI (ops, metadata, status,
                                   classify/regress, /ui, docs; the inference paths' 405s)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.routing import Mount
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
from gateway.routers.errors import error_handlers, install_error_handlers
from gateway.routers.inference import InferenceDispatch, inference_routes
from gateway.security.keys import KeyStore
from gateway.security.ratelimit import RateLimiter
from gateway.settings import GatewaySettings
from gateway.tracing import tracing_from_env


class GatewayApp(Starlette):
    """Starlette with :class:`GatewayMiddleware` and :class:`InferenceDispatch` ahead of its
    own middleware stack (see the module docstring)."""

    front: Callable[[ASGIApp], ASGIApp] = staticmethod(lambda app: app)
    """Wraps the dispatcher in the gateway's middleware (set by ``create_app``)."""

    def build_middleware_stack(self) -> ASGIApp:
        inner = super().build_middleware_stack()
        return self.front(InferenceDispatch(self.router.routes, inner))


def create_app(
    settings: GatewaySettings,
    *,
    table: RouteTable | None = None,
    backends: Mapping[str, Backend] | None = None,
) -> GatewayApp:
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
    async def lifespan(app_: Starlette) -> AsyncIterator[None]:
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

    state = AppState(
        settings=settings,
        dataplane=dataplane,
        metrics=metrics,
        keys=keys,
        limiter=RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst),
    )
    # Everything but inference: FastAPI routes, dependencies and OpenAPI (docs served by
    # ``gateway.routers.ops``, with the inference paths merged in).
    api = FastAPI(
        title="Tandem gateway",
        version=__version__,
        summary="TF Serving REST (v1) and Open Inference Protocol (v2) over TF Serving and "
        "TorchServe.",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        # Tracing is the gateway's own (gateway.tracing), one span per request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    api.state.gateway = state
    install_error_handlers(api)
    for router in (ops.router, v1.router, v2.health, v2.router, ui.router):
        api.include_router(router)

    # The one dispatcher: the inference routes first, then FastAPI for every other path.
    app = GatewayApp(
        routes=[*inference_routes((*v1.OPERATIONS, *v2.OPERATIONS)), Mount("", app=api)],
        exception_handlers=error_handlers(),
        lifespan=lifespan,
    )
    app.front = partial(
        GatewayMiddleware,
        max_body_bytes=settings.max_body_bytes,
        metrics=metrics,
        access_log=settings.access_log,
        access_log_sample=settings.access_log_sample,
        tracing=tracing,
    )
    app.state.gateway = state
    app.state.reloader = reloader
    app.state.tracing = tracing
    return app
