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
    shed: int = 0
    """Requests refused by admission control since start (503 + ``Retry-After``; also
    counted in ``errors``)."""
    in_flight: int = 0
    """Requests at the backend now (admission slots taken)."""
    waiting: int = 0
    """Requests waiting for a slot now."""
    max_in_flight: int = 0
    max_queue: int = 0


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


class TwinVariantStatus(BaseModel):
    """One variant of a twin, with the figures of the model that serves it."""

    name: str
    framework: str
    backend: str
    weight: float
    """Share of the split (the default also takes what the weights leave below 1)."""
    role: str
    """``default``, ``shadow`` or ``split``."""
    ready: bool
    requests: int
    errors: int
    rps: float | None
    p50_ms: float | None
    p99_ms: float | None


class DisagreementEntry(BaseModel):
    at: float
    twin: str
    primary: str
    shadow: str
    request_id: str
    outputs: list[str]
    max_abs_diff: dict[str, float]
    inputs: dict[str, list[int]]
    """Input shapes; the tensors only in ``payload``, when the gateway keeps them."""
    payload: dict[str, object] | None = None


class TwinStatus(BaseModel):
    """One twin: its variants side by side and the live agreement of shadowed requests."""

    name: str
    default: str
    shadow: str | None
    objective: float
    compared: int
    """Shadowed requests whose two answers were compared since the gateway started."""
    agreed: int
    agreement: float | None
    """``agreed / compared``; ``None`` before the first comparison."""
    variants: list[TwinVariantStatus]
    disagreements: list[DisagreementEntry]
    """The latest kept, newest first."""


class StatusReport(BaseModel):
    window_s: float
    """Seconds the rates and percentiles are computed over."""
    models: list[ModelStatus]
    backends: list[BackendStatus]
    recent_errors: list[RecentError]
    """Newest first."""
    twins: list[TwinStatus] = []
