"""One pure-ASGI middleware for what every request needs (cheaper than a middleware each):

* ``X-Request-ID``: taken from the request when sane, else generated; echoed in the
  response, kept in ``request.state.request_id`` and in the log context;
* body limit: 413 from ``Content-Length`` before anything is read, and while streaming when
  there is none (the error is raised from ``receive`` and rendered by the error handler);
* ``Content-Encoding: gzip`` / ``deflate`` request bodies are decoded here, once, with the
  body limit applied to the decoded size too (a compression bomb gets 413, decoding stops at
  the limit); any other encoding is 415, a body that is not what it claims 400;
* in-flight count (a plain integer the gauge reads at scrape time) and a structured
  access-log line: for every request when asked for (``access_log``), else for a random
  sample (``access_log_sample``; 0 = none). Errors are logged where they are raised;
* ``X-Tandem-Variant``: the twin variant that answered, when the dataplane routed one
  (:mod:`gateway.dataplane.twins`).
"""

from __future__ import annotations

import logging
import os
import random
import re
import time
import zlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.dataplane.twins import VARIANT_HEADER, answered_by
from gateway.errors import BadRequest, GatewayError, PayloadTooLarge, UnsupportedMediaType
from gateway.logs import request_id_var
from gateway.metrics import GatewayMetrics
from gateway.routers.errors import error_response_parts
from gateway.tracing import Tracing

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
access_log = logging.getLogger("gateway.access")
log = logging.getLogger("gateway.middleware")
_VARIANT = VARIANT_HEADER.lower().encode()
#: Content-Encoding → zlib window bits (deflate is zlib-wrapped, RFC 9110; raw is retried).
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class GatewayMiddleware:
    """See the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        metrics: GatewayMetrics,
        access_log: bool,
        access_log_sample: float = 0.0,
        tracing: Tracing | None = None,
    ) -> None:
        self.app = app
        self.tracing = tracing
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics
        self.log_access = access_log
        self.log_sample = 1.0 if access_log else access_log_sample

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = None
        length: int | None = None
        encoding: str | None = None
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
            elif key == b"content-encoding":
                encoding = value.decode("latin-1").strip().lower()
        if request_id is None:
            request_id = os.urandom(16).hex()  # uuid4().hex's 32 hex digits, at a third the cost
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        variants: list[str] = []
        variant_token = answered_by.set(variants)
        rid_header = (b"x-request-id", request_id.encode())
        status_box = [0]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = message["status"]
                headers = [*message.get("headers", []), rid_header]
                if variants:
                    headers.append((_VARIANT, variants[-1].encode()))
                message["headers"] = headers
            await send(message)

        metrics = self.metrics
        metrics.in_flight_count += 1
        try:
            if length is not None and length > self.max_body_bytes:
                await self._reject(send_with_id, length)
                return
            if encoding and encoding != "identity":
                try:
                    receive = await self._decoded(scope, receive, encoding)
                except GatewayError as exc:
                    await self._send_error(send_with_id, exc)
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

            try:
                if self.tracing is None:
                    await self.app(scope, limited_receive, send_with_id)
                else:
                    await self._traced(scope, limited_receive, send_with_id, request_id, status_box)
            except Exception:
                if status_box[0]:
                    raise  # the answer has started: nothing left to say
                # A bug, not a GatewayError (those are rendered inside): the JSON 500, with
                # the request id, and the traceback in the log.
                log.exception("unhandled error", extra={"path": scope.get("path")})
                await self._send_error(send_with_id, GatewayError("internal server error"))
        finally:
            metrics.in_flight_count -= 1
            request_id_var.reset(token)
            answered_by.reset(variant_token)
            if self.log_sample and (self.log_access or random.random() < self.log_sample):
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
        carrier = {
            k.decode("latin-1"): v.decode("latin-1")
            for k, v in scope["headers"]
            if k in (b"traceparent", b"tracestate")
        }
        with self.tracing.start_span(
            name, server=True, attributes=attributes, carrier=carrier
        ) as span:
            try:
                await self.app(scope, receive, send)
            finally:
                span.set_attribute("http.response.status_code", status[0])

    async def _decoded(self, scope: Scope, receive: Receive, encoding: str) -> Receive:
        """Read and decode a compressed body; a ``receive`` that replays the decoded body."""
        codings = [c.strip() for c in encoding.split(",") if c.strip()]
        unknown = [c for c in codings if c not in _WBITS and c != "identity"]
        if unknown:
            raise UnsupportedMediaType(
                f"Content-Encoding {', '.join(unknown)!s} is not supported: send gzip, "
                "deflate or identity"
            )
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                raise BadRequest("client disconnected while sending the body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise PayloadTooLarge(f"request body exceeds the {self.max_body_bytes}-byte limit")
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        for coding in reversed(codings):  # the last coding applied is undone first
            if coding != "identity":
                body = _inflate(body, coding, self.max_body_bytes)
        scope["headers"] = [
            (k, v) for k, v in scope["headers"] if k not in (b"content-encoding", b"content-length")
        ] + [(b"content-length", str(len(body)).encode())]
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()  # after the body: wait for the disconnect
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay

    async def _reject(self, send: Send, length: int) -> None:
        await self._send_error(
            send,
            PayloadTooLarge(
                f"request body of {length} bytes exceeds the {self.max_body_bytes}-byte limit"
            ),
        )

    async def _send_error(self, send: Send, error: GatewayError) -> None:
        """Answer ``error`` before the app has read the body (413, 415, 400), or after it
        failed: the connection is closed, as a request body may be left unread."""
        status, headers, body = error_response_parts(error)
        raw_headers: list[tuple[bytes, bytes]] = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            *((k.lower().encode(), v.encode()) for k, v in headers.items()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": body})


def _inflate(data: bytes, coding: str, limit: int) -> bytes:
    """Decode one content coding, stopping (413) as soon as the output passes ``limit``."""
    wbits = _WBITS[coding]
    for attempt in (wbits, -zlib.MAX_WBITS) if coding == "deflate" else (wbits,):
        inflater = zlib.decompressobj(attempt)
        try:
            out = inflater.decompress(data, limit + 1)
        except zlib.error as exc:
            if attempt != -zlib.MAX_WBITS and coding == "deflate":
                continue  # not zlib-wrapped: some clients send raw deflate
            raise BadRequest(f"request body is not valid {coding} data: {exc}") from exc
        if len(out) > limit:
            raise PayloadTooLarge(f"decoded request body exceeds the {limit}-byte limit")
        if not inflater.eof:
            raise BadRequest(f"request body is truncated {coding} data")
        if inflater.unused_data and coding != "deflate":
            raise BadRequest(f"request body has data after the {coding} stream")
        return out
    raise BadRequest(f"request body is not valid {coding} data")  # pragma: no cover
