"""``GET /ui/status``: what the status page shows."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel


class ModelStatus(BaseModel):
    """One routed model: where it is served, whether it answers, and its figures."""

    name: str
    framework: str
    backend: str
    versions: list[int]
    default_version: int
    labels: dict[str, int]
    ready: bool
    requests: int
    """Requests since the gateway started (any status)."""
    errors: int
    """Of which answered with a status >= 400."""
    by_protocol: dict[str, int] = {}
    """``requests`` split by protocol: ``v1``, ``v2`` (REST), ``tfs-grpc``, ``v2-grpc``."""
    rps: float | None
    """Requests per second over the window; ``None`` before the second poll."""
    p50_ms: float | None
    p99_ms: float | None


class BackendStatus(BaseModel):
    name: str
    kind: str
    circuit: str
    """``closed``, ``open`` or ``half-open``."""
    models_ready: int
    models: int


@dataclass(frozen=True, slots=True)
class RecentError:
    """One failed inference request: kept by ``GatewayMetrics``, shown by the status page."""

    at: float
    """Unix time."""
    model: str
    backend: str
    status: int
    cause: str
    message: str
    request_id: str


class StatusReport(BaseModel):
    window_s: float
    """Seconds the rates and percentiles are computed over."""
    models: list[ModelStatus]
    backends: list[BackendStatus]
    recent_errors: list[RecentError]
    """Newest first."""
