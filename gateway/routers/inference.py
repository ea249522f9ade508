"""The inference endpoints (``:predict``, ``/infer``) as plain Starlette routes.

Every inference goes through these, so they skip what FastAPI adds per request (dependency
resolution, its middleware layers): an endpoint authenticates with the one rule
(:func:`gateway.deps.authenticate_request`), takes the request id the middleware set and runs
its core handler; a :class:`~gateway.errors.GatewayError` is rendered by the app's one error
handler. The routes are declared once, in :data:`gateway.routers.v1.OPERATIONS` and
:data:`gateway.routers.v2.OPERATIONS`; their OpenAPI paths are generated from the same
declarations (:func:`openapi_paths`) and merged into FastAPI's document by
``gateway.routers.ops``.

Why not FastAPI routes: measured in-process (``python -m bench.dispatch``, 3 interleaved
rounds, medians), a v1 / v2 JSON inference cost 214 / 266 us of CPU through FastAPI's routes
and dependencies, 65 / 72 us through the former lean path ahead of FastAPI, and 57 / 65 us
through these routes (admission control included).

:class:`InferenceDispatch` serves the same routes ahead of Starlette's own stack (its error
middlewares, router, ``Route.handle`` and the send wrappers each layer adds): the gateway
process spent about 10% of its CPU per inference in those layers (py-spy, wrk at c=32).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.deps import AppState, authenticate_request, request_id_of
from gateway.errors import GatewayError
from gateway.routers.errors import gateway_error_response
from gateway.schemas.common import ERROR_RESPONSES, ErrorBody

#: ``handler(state, request, request_id, **path_params)``: the core of one endpoint.
Handler = Callable[..., Awaitable[Response]]
JSON = "application/json"
_REF = "#/components/schemas/{model}"


@dataclass(frozen=True, slots=True)
class Operation:
    """One inference endpoint: its route and its OpenAPI operation, declared together."""

    path: str
    operation_id: str
    handler: Handler
    summary: str
    tag: str
    request_model: type[BaseModel]
    response_model: type[BaseModel]
    request_doc: dict[str, Any] = field(default_factory=dict)
    """Extra OpenAPI fields of the operation (e.g. a header parameter, a body description)."""


def _endpoint(op: Operation) -> Callable[[Request], Awaitable[Response]]:
    handler = op.handler

    async def endpoint(request: Request) -> Response:
        state: AppState = request.app.state.gateway
        await authenticate_request(state, request)
        return await handler(state, request, request_id_of(request), **request.path_params)

    endpoint.__name__ = op.operation_id
    return endpoint


def inference_routes(operations: Iterable[Operation]) -> list[BaseRoute]:
    """A ``POST`` route per operation (called once by ``create_app``)."""
    return [
        Route(op.path, _endpoint(op), methods=["POST"], name=op.operation_id) for op in operations
    ]


class InferenceDispatch:
    """ASGI app: a ``POST`` to an inference path runs its endpoint directly (a
    :class:`GatewayError` answered with the one error body); any other request goes to
    ``fallback`` (the Starlette/FastAPI stack, which serves the same routes' 405s and every
    other path). Meant to sit inside :class:`gateway.middleware.GatewayMiddleware`, which
    answers an unexpected exception with the JSON 500."""

    def __init__(self, routes: Sequence[BaseRoute], fallback: ASGIApp) -> None:
        self.fallback = fallback
        self._routes = [
            (route.path_regex, route.param_convertors, route.endpoint)
            for route in routes
            if isinstance(route, Route)
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            path = scope["path"]
            for regex, convertors, endpoint in self._routes:
                match = regex.match(path)
                if match is None:
                    continue
                scope["path_params"] = {
                    key: convertors[key].convert(value) for key, value in match.groupdict().items()
                }
                try:
                    response = await endpoint(Request(scope, receive, send))
                except GatewayError as exc:
                    response = gateway_error_response(exc)
                await response(scope, receive, send)
                return
        await self.fallback(scope, receive, send)


def openapi_paths(
    operations: Sequence[Operation], extra_models: Iterable[type[BaseModel]] = ()
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(paths, component schemas) documenting ``operations`` as FastAPI would: path
    parameters, the body and answer schemas by reference, the error answers, both API-key
    schemes (named as FastAPI's security dependencies name them). ``extra_models`` join the
    components (bodies other routes name by reference)."""
    models: set[type[BaseModel]] = {ErrorBody, *extra_models}
    models |= {m for op in operations for m in (op.request_model, op.response_model)}
    refs, defs = models_json_schema(
        [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)],
        ref_template=_REF,
    )
    components: dict[str, Any] = dict(defs.get("$defs", {}))
    paths: dict[str, Any] = {}
    for op in operations:
        _, path_format, convertors = compile_path(op.path)
        responses: dict[str, Any] = {
            "200": {
                "description": "Successful Response",
                "content": {JSON: {"schema": refs[(op.response_model, "validation")]}},
            }
        }
        for status, doc in ERROR_RESPONSES.items():
            responses[str(status)] = _error_response(doc)
        operation: dict[str, Any] = {
            "tags": [op.tag],
            "summary": op.summary,
            "operationId": op.operation_id,
            "parameters": [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in convertors
            ],
            "requestBody": {
                "required": True,
                "content": {JSON: {"schema": refs[(op.request_model, "validation")]}},
            },
            "responses": responses,
            "security": [{"HTTPBearer": []}, {"APIKeyHeader": []}],
        }
        for key, value in op.request_doc.items():
            if key == "parameters":
                operation["parameters"] = [*operation["parameters"], *value]
            elif key == "requestBody":
                operation["requestBody"] = {**operation["requestBody"], **value}
            else:
                operation[key] = value
        paths.setdefault(path_format, {})["post"] = operation
    return paths, components


def _error_response(doc: dict[str, Any]) -> dict[str, Any]:
    """An entry of ``ERROR_RESPONSES`` as an OpenAPI response object."""
    out = {"description": doc.get("description", "Error")}
    model = doc.get("model")
    if isinstance(model, type) and issubclass(model, BaseModel):
        out["content"] = {JSON: {"schema": {"$ref": _REF.format(model=model.__name__)}}}
    return out
