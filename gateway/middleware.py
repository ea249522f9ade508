"""One pure-ASGI middleware for what every request needs (cheaper than a middleware each):

* ``X-Request-ID``: taken from the request when sane, else generated; echoed in the
  response, kept in ``request.state.request_id`` and in the log context;
* body limit: 413 from ``Content-Length`` before anything is read, and while streaming when
  there is none (the error is raised from ``receive`` and rendered by the error handler);
* in-flight gauge and one structured access-log line per request.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import PayloadTooLarge
from gateway.logs import request_id_var
from gateway.metrics import GatewayMetrics
from gateway.routers.errors import error_response_parts
from gateway.tracing import Tracing

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
access_log = logging.getLogger("gateway.access")


class GatewayMiddleware:
    """See the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        metrics: GatewayMetrics,
        access_log: bool,
        tracing: Tracing | None = None,
    ) -> None:
        self.app = app
        self.tracing = tracing
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics
        self.log_access = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = None
        length: int | None = None
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                text = value.decode("latin-1")
                if _REQUEST_ID_RE.match(text):
                    request_id = text
            elif key == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = None
        if request_id is None:
            request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        rid_header = (b"x-request-id", request_id.encode())
        status_box = [0]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = message["status"]
                message["headers"] = [*message.get("headers", []), rid_header]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            if length is not None and length > self.max_body_bytes:
                await self._reject(send_with_id, length)
                return
            limit = self.max_body_bytes
            received = 0

            async def limited_receive() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        raise PayloadTooLarge(f"request body exceeds the {limit}-byte limit")
                return message

            if self.tracing is None:
                await self.app(scope, limited_receive, send_with_id)
            else:
                await self._traced(scope, limited_receive, send_with_id, request_id, status_box)
        finally:
            self.metrics.in_flight.dec()
            request_id_var.reset(token)
            if self.log_access:
                access_log.info(
                    "request",
                    extra={
                        "request_id": request_id,
                        "method": scope.get("method"),
                        "path": scope.get("path"),
                        "status": status_box[0],
                        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                    },
                )

    async def _traced(
        self, scope: Scope, receive: Receive, send: Send, request_id: str, status: list[int]
    ) -> None:
        """The request inside a SERVER span (backend calls become its children)."""
        assert self.tracing is not None
        method, path = scope.get("method", ""), scope.get("path", "")
        attributes = {"http.request.method": method, "url.path": path}
        attributes["tandem.request_id"] = request_id
        name = f"{method} {path}"
        with self.tracing.start_span(name, server=True, attributes=attributes) as span:
            try:
                await self.app(scope, receive, send)
            finally:
                span.set_attribute("http.response.status_code", status[0])

    async def _reject(self, send: Send, length: int) -> None:
        status, headers, body = error_response_parts(
            PayloadTooLarge(
                f"request body of {length} bytes exceeds the {self.max_body_bytes}-byte limit"
            )
        )
        raw_headers: list[tuple[bytes, bytes]] = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            *((k.lower().encode(), v.encode()) for k, v in headers.items()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": body})
