"""gRPC plumbing shared by the adapters: channel options (errors: :mod:`error_map`)."""

from __future__ import annotations

from typing import Any

import grpc

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


def open_channel(target: str) -> Any:
    """An insecure (loopback/cluster-internal) pooled HTTP/2 channel to ``target``."""
    return grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)
