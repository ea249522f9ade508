"""Small HTTP helpers shared by the routers."""

from __future__ import annotations

import math
import time
from typing import Any

import orjson
from fastapi import Request
from starlette.responses import Response

from gateway.dataplane.routing import Target
from gateway.errors import BadRequest, GatewayError, UnsupportedMediaType
from gateway.logs import request_id_var
from gateway.metrics import GatewayMetrics

JSON = "application/json"


def check_json_content_type(request: Request) -> None:
    """415 unless the body is declared JSON (a missing Content-Type is taken as JSON)."""
    content_type = request.headers.get("content-type")
    if content_type is None:
        return
    media = content_type.split(";", 1)[0].strip().lower()
    if media != JSON and not media.endswith("+json"):
        raise UnsupportedMediaType(f"expected Content-Type {JSON}, got {media!r}")


async def read_json(request: Request) -> Any:
    """The body parsed with orjson (400 when it is not JSON)."""
    check_json_content_type(request)
    body = await request.body()
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from exc


def client_timeout_s(request: Request, header: str) -> float | None:
    """The caller's own timeout in seconds, from ``header`` (``None`` without one; 400 when
    it is not a non-negative number): the dataplane's ``deadline_s``."""
    raw = request.headers.get(header)
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not math.isfinite(seconds) or seconds < 0:
        raise BadRequest(f"{header} must be a timeout in seconds (a non-negative number)")
    return seconds


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type=JSON)


class Observation:
    """Times one inference-API request and counts it with its final status."""

    __slots__ = ("_metrics", "_protocol", "_started", "model", "status", "target")

    def __init__(self, metrics: GatewayMetrics, protocol: str, model: str) -> None:
        self._metrics = metrics
        self._protocol = protocol
        self._started = time.perf_counter()
        self.model = model
        self.target: Target | None = None
        self.status = 200

    def __enter__(self) -> Observation:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, GatewayError):
            self.status = int(exc.status)
        elif exc is not None:
            self.status = 500
        target = self.target
        model = target.model if target else "_unknown"
        backend = target.route.backend if target else ""
        self._metrics.observe(
            model=model,
            version=str(target.version) if target else "",
            backend=backend,
            protocol=self._protocol,
            status=self.status,
            seconds=time.perf_counter() - self._started,
        )
        if exc is not None:
            self._metrics.observe_error(
                exc,
                model=model,
                backend=backend,
                status=self.status,
                request_id=request_id_var.get() or "",
            )
