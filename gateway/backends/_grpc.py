"""gRPC plumbing shared by the adapters: channel options and error translation."""

from __future__ import annotations

from typing import Any

import grpc

from gateway.errors import (
    BackendUnavailable,
    GatewayError,
    ModelNotReady,
    ServiceUnavailable,
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
)

MAX_MESSAGE_BYTES = 256 * 1024 * 1024

#: Reconnect quickly after a backend restart (gRPC's default backoff grows to 120 s).
CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.keepalive_time_ms", 30000),
    ("grpc.keepalive_timeout_ms", 5000),
    ("grpc.enable_retries", 0),
]

_NOT_SENT_HINTS = (
    "failed to connect",
    "connection refused",
    "connect failed",
    "no connection",
    "dns resolution failed",
    "name resolution",
)


def open_channel(target: str) -> Any:
    """An insecure (loopback/cluster-internal) pooled HTTP/2 channel to ``target``."""
    return grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)


def translate(exc: grpc.aio.AioRpcError, backend: str, what: str) -> GatewayError:
    """Map a gRPC status to the gateway's error, most specific first."""
    code = exc.code()
    details = exc.details() or ""
    message = f"{backend}: {what}: {details}" if details else f"{backend}: {what} failed"
    codes = grpc.StatusCode
    if code == codes.DEADLINE_EXCEEDED:
        return UpstreamTimeout(f"{backend}: {what} timed out")
    if code == codes.UNAVAILABLE:
        sent = not any(hint in details.lower() for hint in _NOT_SENT_HINTS)
        return BackendUnavailable(f"{backend} is unavailable: {details}", sent=sent)
    if code == codes.NOT_FOUND:
        return ModelNotReady(message)
    if code in (codes.INVALID_ARGUMENT, codes.FAILED_PRECONDITION, codes.OUT_OF_RANGE):
        return UpstreamRejected(message)
    if code == codes.RESOURCE_EXHAUSTED:
        return ServiceUnavailable(message)
    return UpstreamError(message)
