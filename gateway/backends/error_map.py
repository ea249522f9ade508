"""Foreign errors -> the gateway's own, by table, most specific row first.

Every backend failure becomes a :class:`gateway.errors.GatewayError` here, at the adapter
boundary (the callers ``raise ... from`` the foreign error). Four tables, each read top to
bottom, the first matching row wins:

- :data:`GRPC_ROWS`: a gRPC status code, optionally narrowed by a marker in the status
  details. TorchServe 0.12 names the Java exception there (it sends ``INTERNAL`` for a bad
  request, an unknown model and a job it could not queue); gRPC core names a connection
  that was never made (the request was not sent, so it may be retried).
- :data:`HTTP_ROWS`: a non-2xx HTTP status of TF Serving or TorchServe. Both send a JSON
  error body (TF Serving ``{"error": ...}``, TorchServe ``{"code", "type", "message"}``);
  its text goes into the message.
- :data:`CONNECT_ROWS` / :data:`EXCHANGE_ROWS`: what the REST transport (asyncio +
  ``httptools``) raises while connecting, or after the request was written.

A TorchServe prediction that arrives as a normal answer but whose body is the handler's
``{"error": ...}`` (TorchServe's gRPC API drops the handler's HTTP status) is
:func:`from_answer`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import grpc
import orjson

from gateway.errors import (
    BackendUnavailable,
    GatewayError,
    ModelNotReady,
    ServiceUnavailable,
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
)


class Disconnected(Exception):
    """The server closed the connection, or sent an answer ``httptools`` cannot parse,
    before a whole answer arrived (raised by the REST transport)."""

    def __init__(self, message: str, *, answered: bool) -> None:
        super().__init__(message)
        self.answered = answered  # some response bytes had arrived


@dataclass(frozen=True, slots=True)
class GrpcRow:
    """gRPC status ``code`` (with ``marker`` in its details, if set) -> ``error``."""

    code: grpc.StatusCode
    error: type[GatewayError]
    marker: str = ""
    """Matched case-insensitively inside the status details; empty matches any."""
    sent: bool = True
    """For :class:`BackendUnavailable`: whether the request reached the server."""


@dataclass(frozen=True, slots=True)
class HttpRow:
    """Any of the HTTP ``statuses`` -> ``error``."""

    statuses: frozenset[int]
    error: type[GatewayError]


@dataclass(frozen=True, slots=True)
class TransportRow:
    """An exception of type ``raised`` (subclasses included) -> ``error``."""

    raised: type[BaseException]
    error: type[GatewayError]
    sent: bool = True


_C = grpc.StatusCode

GRPC_ROWS: Final[tuple[GrpcRow, ...]] = (
    # TorchServe's own failures, all INTERNAL, told apart by the exception it names.
    GrpcRow(_C.INTERNAL, UpstreamRejected, "BadRequestException"),
    GrpcRow(_C.INTERNAL, ModelNotReady, "ModelNotFoundException"),
    GrpcRow(_C.INTERNAL, ModelNotReady, "ModelVersionNotFoundException"),
    # The job was not queued: no worker, or the model's queue is full.
    GrpcRow(_C.INTERNAL, ServiceUnavailable, "InternalServerException.()"),
    GrpcRow(_C.DEADLINE_EXCEEDED, UpstreamTimeout),
    # gRPC core's wording for a connection that was never made: safe to retry.
    GrpcRow(_C.UNAVAILABLE, BackendUnavailable, "failed to connect", sent=False),
    GrpcRow(_C.UNAVAILABLE, BackendUnavailable, "connection refused", sent=False),
    GrpcRow(_C.UNAVAILABLE, BackendUnavailable, "connect failed", sent=False),
    GrpcRow(_C.UNAVAILABLE, BackendUnavailable, "no connection", sent=False),
    GrpcRow(_C.UNAVAILABLE, BackendUnavailable, "dns resolution failed", sent=False),
    GrpcRow(_C.UNAVAILABLE, BackendUnavailable, "name resolution", sent=False),
    GrpcRow(_C.UNAVAILABLE, BackendUnavailable),
    GrpcRow(_C.NOT_FOUND, ModelNotReady),
    GrpcRow(_C.INVALID_ARGUMENT, UpstreamRejected),
    GrpcRow(_C.FAILED_PRECONDITION, UpstreamRejected),
    GrpcRow(_C.OUT_OF_RANGE, UpstreamRejected),
    GrpcRow(_C.RESOURCE_EXHAUSTED, ServiceUnavailable),
)
"""Any other code (INTERNAL, UNKNOWN, CANCELLED, ...) is an :class:`UpstreamError`."""

HTTP_ROWS: Final[tuple[HttpRow, ...]] = (
    HttpRow(frozenset({400, 422}), UpstreamRejected),
    HttpRow(frozenset({404}), ModelNotReady),
    HttpRow(frozenset({408, 504}), UpstreamTimeout),
    HttpRow(frozenset({502, 503}), BackendUnavailable),
    # TF Serving's RESOURCE_EXHAUSTED over REST: the same error as over gRPC.
    HttpRow(frozenset({429}), ServiceUnavailable),
)
"""Any other status is an :class:`UpstreamError`."""

CONNECT_ROWS: Final[tuple[TransportRow, ...]] = (
    TransportRow(TimeoutError, UpstreamTimeout),  # before OSError: it is one
    TransportRow(OSError, BackendUnavailable, sent=False),
)
EXCHANGE_ROWS: Final[tuple[TransportRow, ...]] = (
    TransportRow(TimeoutError, UpstreamTimeout),
    TransportRow(Disconnected, BackendUnavailable),
)
"""Any other exception is an :class:`UpstreamError`."""


def _make(error: type[GatewayError], message: str, sent: bool) -> GatewayError:
    if issubclass(error, BackendUnavailable):
        return error(message, sent=sent)
    return error(message)


def grpc_row(code: grpc.StatusCode, details: str) -> GrpcRow | None:
    """The first row of :data:`GRPC_ROWS` that matches, or None."""
    text = details.lower()
    return next((r for r in GRPC_ROWS if r.code == code and r.marker.lower() in text), None)


def from_grpc(exc: grpc.aio.AioRpcError, backend: str, what: str) -> GatewayError:
    """The gateway's error for a failed gRPC call ``what`` to ``backend``."""
    details = exc.details() or ""
    row = grpc_row(exc.code(), details) or GrpcRow(exc.code(), UpstreamError)
    if row.error is UpstreamTimeout:
        message = f"{backend}: {what} timed out"
    elif row.error is BackendUnavailable:
        message = f"{backend} is unavailable: {details}"
    else:
        message = f"{backend}: {what}: {details}" if details else f"{backend}: {what} failed"
    return _make(row.error, message, row.sent)


def http_row(status: int) -> HttpRow | None:
    """The first row of :data:`HTTP_ROWS` that matches, or None."""
    return next((row for row in HTTP_ROWS if status in row.statuses), None)


def from_http(status: int, body: bytes, backend: str, what: str) -> GatewayError:
    """The gateway's error for a non-2xx answer to ``what``, its body's text included."""
    message = error_text(body)
    text = f"{backend}: {what}: {message}" if message else f"{backend}: {what}: HTTP {status}"
    row = http_row(status)
    return _make(row.error if row is not None else UpstreamError, text, True)


def error_text(body: bytes) -> str:
    """The message of an error body: TF Serving's ``error``, TorchServe's ``message``, a
    framework's ``detail``; else the body itself (the first 200 characters)."""
    try:
        parsed: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:200].decode(errors="replace").strip()
    if isinstance(parsed, dict):
        for key in ("error", "message", "detail"):
            if key in parsed:
                return str(parsed[key])
    return str(parsed)[:200]


def transport_row(exc: BaseException, *, connecting: bool) -> TransportRow | None:
    """The first row of :data:`CONNECT_ROWS` (or :data:`EXCHANGE_ROWS`) that matches."""
    rows = CONNECT_ROWS if connecting else EXCHANGE_ROWS
    return next((row for row in rows if isinstance(exc, row.raised)), None)


def from_transport(
    exc: BaseException, backend: str, what: str, *, connecting: bool = False
) -> GatewayError:
    """The gateway's error for what the REST transport raised while connecting or during
    the exchange ``what``."""
    row = transport_row(exc, connecting=connecting) or TransportRow(type(exc), UpstreamError)
    if row.error is UpstreamTimeout:
        message = f"{backend}: {'connect' if connecting else what} timed out"
    elif not row.sent:
        message = f"{backend} is unavailable: {exc}"
    else:
        message = f"{backend}: {what}: {exc}"
    return _make(row.error, message, row.sent)


def from_answer(header: Any, backend: str) -> GatewayError | None:
    """A TorchServe answer that is the handler's ``{"error": ...}`` (the input was refused)
    rather than outputs; None for any other answer."""
    if isinstance(header, dict) and "error" in header and "outputs" not in header:
        return UpstreamRejected(f"{backend}: {header['error']}")
    return None
