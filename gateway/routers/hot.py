"""The lean path of the inference endpoints (``:predict``, ``/infer``).

FastAPI declares and documents every route: path, parameters, auth schemes, response model.
For the endpoints that every inference goes through, FastAPI's per-request dependency
resolution, route scan and response-model machinery cost more than the rest of the gateway.
This pure-ASGI middleware matches those routes with the regex FastAPI compiled for them and
runs the same steps the dependencies run (:func:`gateway.deps.get_state`,
:func:`~gateway.deps.authenticate_request`, :func:`~gateway.deps.get_request_id`), then the
same core handler as the FastAPI endpoint, rendering errors with the same function as the
exception handler. Every other request, and any it does not recognise, goes on to FastAPI.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from re import Pattern
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.convertors import Convertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.deps import authenticate_request, get_request_id, get_state
from gateway.errors import GatewayError
from gateway.routers.errors import gateway_error_response

log = logging.getLogger("gateway.hot")

#: ``handler(state, request, request_id, **path_params)``, the core of a FastAPI endpoint.
HotHandler = Callable[..., Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class HotRoute:
    """One FastAPI route served by the lean path."""

    regex: Pattern[str]
    convertors: Mapping[str, Convertor[Any]]
    handler: HotHandler


def hot_routes(app: FastAPI, handlers: Mapping[str, HotHandler]) -> list[HotRoute]:
    """The ``POST`` routes of ``app`` whose operation id has a handler in ``handlers``.

    Called by ``create_app`` once the routers are included; every handler must find its
    route, so a renamed operation cannot silently fall back to the slow path."""
    found: dict[str, HotRoute] = {}
    # The routes as FastAPI itself serves and documents them (prefixes of included routers
    # applied), the same walk as ``fastapi.openapi.utils.get_openapi``.
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute):
            continue
        operation_id = route.operation_id
        if operation_id in handlers:
            if route.methods != {"POST"}:
                raise ValueError(f"lean route {operation_id!r} must be POST only")
            found[operation_id] = HotRoute(
                route.path_regex, route.param_convertors, handlers[operation_id]
            )
    missing = set(handlers) - set(found)
    if missing:
        raise ValueError(f"no route for lean handlers {sorted(missing)}")
    return list(found.values())


class HotPath:
    """See the module docstring. Sits inside :class:`gateway.middleware.GatewayMiddleware`
    (request id, body limit, in-flight gauge, access log apply to both paths) and outside
    Starlette's own middleware stack, which only the other routes go through."""

    def __init__(self, app: ASGIApp, *, routes: Sequence[HotRoute]) -> None:
        self.app = app
        self.routes = tuple(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Mounted apps (root_path) go through Starlette's routing, which strips the prefix.
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            path = scope["path"]
            for route in self.routes:
                match = route.regex.match(path)
                if match is not None:
                    await self._serve(route, match.groupdict(), scope, receive, send)
                    return
        await self.app(scope, receive, send)

    @staticmethod
    async def _serve(
        route: HotRoute, raw: dict[str, str], scope: Scope, receive: Receive, send: Send
    ) -> None:
        params = {key: route.convertors[key].convert(value) for key, value in raw.items()}
        scope["path_params"] = params
        request = Request(scope, receive, send)
        try:
            state = await get_state(request)
            await authenticate_request(state, request)
            request_id = await get_request_id(request)
            response = await route.handler(state, request, request_id, **params)
        except GatewayError as exc:
            response = gateway_error_response(exc)
        except Exception:
            # This path runs outside Starlette's error middleware: answer the same JSON 500.
            log.exception("unhandled error on the lean inference path")
            response = gateway_error_response(GatewayError("internal server error"))
        await response(scope, receive, send)
