"""The one exception handler: every :class:`GatewayError` becomes ``{"error": "..."}``
(the error body of both TF Serving REST v1 and OIP v2) with the error's status."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from gateway.errors import BadRequest, GatewayError

log = logging.getLogger("gateway.errors")


def error_response_parts(exc: GatewayError) -> tuple[int, dict[str, str], bytes]:
    """Status, extra headers and body for ``exc`` (shared with the ASGI middleware)."""
    return int(exc.status), exc.headers(), orjson.dumps({"error": exc.message})


def error_response(exc: GatewayError) -> Response:
    status, headers, body = error_response_parts(exc)
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def gateway_error_response(exc: GatewayError) -> Response:
    """The answer to a :class:`GatewayError` (5xx are logged): the exception handlers' body."""
    if exc.status >= 500:
        log.warning("request failed", extra={"status": int(exc.status), "error": exc.message})
    return error_response(exc)


async def _on_gateway_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    return gateway_error_response(exc)


async def _on_http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    body = orjson.dumps({"error": str(exc.detail)})
    return Response(body, exc.status_code, headers=exc.headers, media_type="application/json")


async def _on_validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response(BadRequest(f"invalid request: {exc.errors()[:3]}"))


async def _on_unexpected(_: Request, exc: Exception) -> Response:
    # Starlette's ServerErrorMiddleware logs the traceback and re-raises after this answer.
    return error_response(GatewayError("internal server error"))


def error_handlers() -> dict[Any, Callable[[Request, Exception], Awaitable[Response]]]:
    """The exception handlers of an app: gateway errors, Starlette's own 4xx (404, 405),
    FastAPI's 422 as 400, and anything unexpected as a JSON 500."""
    return {
        GatewayError: _on_gateway_error,
        StarletteHTTPException: _on_http_error,
        RequestValidationError: _on_validation_error,
        Exception: _on_unexpected,
    }


def install_error_handlers(app: FastAPI) -> None:
    """Register :func:`error_handlers` on a FastAPI app."""
    for kind, handler in error_handlers().items():
        app.add_exception_handler(kind, handler)
