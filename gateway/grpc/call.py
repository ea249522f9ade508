"""What every gRPC call of the front door does around its handler, as the REST middleware and
dependencies do for HTTP: request id, API key and rate limit, trace context, the client's
deadline, metrics by protocol, and errors as gRPC statuses.

Status codes follow the error's HTTP status (:data:`CODES`), so every :class:`GatewayError`
has one and nothing a client sends ends as ``UNKNOWN``: bad input is ``INVALID_ARGUMENT``,
an unknown model ``NOT_FOUND``, a missing key ``UNAUTHENTICATED``, a rate limit
``RESOURCE_EXHAUSTED``, a backend down or not ready ``UNAVAILABLE``, a timeout
``DEADLINE_EXCEEDED``; an unexpected exception is logged and answered ``INTERNAL``.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, NoReturn, TypeVar

import grpc

from gateway.dataplane.admission import DEADLINE
from gateway.dataplane.routing import Target
from gateway.dataplane.twins import VARIANT_HEADER, answered_by
from gateway.deps import AppState, bearer_token, check_key
from gateway.errors import GatewayError, Overloaded, UpstreamTimeout, from_wire
from gateway.logs import request_id_var
from gateway.routers._http import Observation
from gateway.tracing import Tracing
from wire import WireError

log = logging.getLogger("gateway.grpc")
access_log = logging.getLogger("gateway.access")
T = TypeVar("T")

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

#: HTTP status of a gateway error → its gRPC status code (anything else: INTERNAL).
CODES: dict[int, grpc.StatusCode] = {
    HTTPStatus.BAD_REQUEST: grpc.StatusCode.INVALID_ARGUMENT,
    HTTPStatus.UNAUTHORIZED: grpc.StatusCode.UNAUTHENTICATED,
    HTTPStatus.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: grpc.StatusCode.RESOURCE_EXHAUSTED,
    HTTPStatus.UNSUPPORTED_MEDIA_TYPE: grpc.StatusCode.INVALID_ARGUMENT,
    HTTPStatus.TOO_MANY_REQUESTS: grpc.StatusCode.RESOURCE_EXHAUSTED,
    HTTPStatus.BAD_GATEWAY: grpc.StatusCode.INTERNAL,
    HTTPStatus.SERVICE_UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    HTTPStatus.GATEWAY_TIMEOUT: grpc.StatusCode.DEADLINE_EXCEEDED,
}


def grpc_code(error: GatewayError) -> grpc.StatusCode:
    """The gRPC status code of a gateway error."""
    if isinstance(error, Overloaded) and error.reason == DEADLINE:
        # Not UNAVAILABLE: a client's retry policy retries that, and the time is already gone.
        return grpc.StatusCode.DEADLINE_EXCEEDED
    return CODES.get(int(error.status), grpc.StatusCode.INTERNAL)


def metadata_of(context: grpc.aio.ServicerContext) -> dict[str, str]:
    """The call's text metadata, keys lower-cased (binary ``-bin`` entries left out)."""
    out: dict[str, str] = {}
    for key, value in context.invocation_metadata() or ():
        if not key.endswith("-bin") and isinstance(value, str):
            out[key.lower()] = value
    return out


@dataclass(slots=True)
class Call:
    """One admitted call, as its handler sees it."""

    request_id: str
    metadata: dict[str, str]
    deadline_s: float | None
    """Seconds the client still waits (``None``: no deadline); caps the backend call."""
    observation: Observation | None

    def target(self, target: Target) -> Target:
        """Record the model version serving the call (for metrics) and return it."""
        if self.observation is not None:
            self.observation.target = target
        return target


class CallRunner:
    """Runs a handler inside the gateway's per-call rules (see the module docstring)."""

    def __init__(self, state: AppState, tracing: Tracing | None) -> None:
        self.state = state
        self.tracing = tracing

    def sticky_key(self, call: Call) -> str | None:
        return call.metadata.get(self.state.settings.sticky_header.lower())

    def variant(self, call: Call) -> str | None:
        """The twin variant the caller pins (the same header as over HTTP)."""
        return call.metadata.get(self.state.settings.variant_header.lower())

    async def run(
        self,
        context: grpc.aio.ServicerContext,
        method: str,
        handler: Callable[[Call], Awaitable[T]],
        *,
        protocol: str | None = None,
        model: str = "",
        authenticate: bool = True,
    ) -> T:
        """Authenticate, then run ``handler``; an error aborts the call with its status.

        ``protocol`` set: an inference call, counted in the metrics under that protocol."""
        started = time.perf_counter()
        metadata = metadata_of(context)
        presented = metadata.get("x-request-id", "")
        request_id = presented if _REQUEST_ID_RE.match(presented) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        variants: list[str] = []
        variant_token = answered_by.set(variants)
        code = grpc.StatusCode.OK
        self.state.metrics.in_flight_count += 1  # the gauge reads it at scrape time
        try:
            span: AbstractContextManager[Any] = nullcontext()
            if self.tracing is not None:
                attributes = {"rpc.system": "grpc", "rpc.method": method}
                attributes["tandem.request_id"] = request_id
                span = self.tracing.start_span(
                    method, server=True, attributes=attributes, carrier=metadata
                )
            with span:
                observation = Observation(self.state.metrics, protocol, model) if protocol else None
                remaining = context.time_remaining()
                call = Call(request_id, metadata, remaining, observation)
                try:
                    with observation or nullcontext():
                        if authenticate:
                            token_value = bearer_token(metadata.get("authorization"))
                            check_key(self.state, token_value or metadata.get("x-api-key"))
                        if remaining is not None and remaining <= 0:
                            raise UpstreamTimeout("the client's deadline has passed")
                        try:
                            answer = await handler(call)
                            if variants:  # which twin variant answered, as over HTTP
                                context.set_trailing_metadata(
                                    ((VARIANT_HEADER.lower(), variants[-1]),)
                                )
                            return answer
                        except WireError as exc:
                            raise from_wire(exc) from exc
                except GatewayError as exc:
                    code = grpc_code(exc)
                    await _abort(context, code, exc.message)
        except grpc.aio.AbortError:
            raise
        except Exception:
            code = grpc.StatusCode.INTERNAL
            log.exception("unhandled error in gRPC call %s", method)
            await _abort(context, code, "internal error")
        finally:
            self.state.metrics.in_flight_count -= 1
            request_id_var.reset(token)
            answered_by.reset(variant_token)
            if self.state.settings.access_log:
                access_log.info(
                    "request",
                    extra={
                        "request_id": request_id,
                        "method": "gRPC",
                        "path": method,
                        "status": code.name,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                    },
                )


async def _abort(context: grpc.aio.ServicerContext, code: grpc.StatusCode, text: str) -> NoReturn:
    await context.abort(code, text)
    raise AssertionError("unreachable: abort raises")  # pragma: no cover
