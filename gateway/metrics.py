"""Prometheus metrics of one gateway app (own registry, so tests can build many apps).

The per-request helpers keep the labelled children they use: ``labels()`` takes a lock and
builds a key on every call, and the label sets are bounded by the route table.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from gateway.errors import (
    BackendUnavailable,
    BadRequest,
    CircuitOpen,
    GatewayError,
    ModelNotReady,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
    UnsupportedMediaType,
    UpstreamError,
    UpstreamTimeout,
)
from gateway.schemas.status import RecentError

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_LABELS = ("model", "version", "backend", "protocol", "status")
RECENT_ERRORS = 50

#: Error class -> cause label, most specific first (the dashboard and /ui group by these).
_CAUSES: tuple[tuple[type[GatewayError], str], ...] = (
    (CircuitOpen, "circuit_open"),
    (ModelNotReady, "model_not_ready"),
    (BackendUnavailable, "backend_unavailable"),
    (UpstreamTimeout, "timeout"),
    (UpstreamError, "backend_error"),
    (RateLimited, "rate_limited"),
    (Unauthorized, "unauthorized"),
    (NotFound, "not_found"),
    (BadRequest, "client_error"),
    (PayloadTooLarge, "client_error"),
    (UnsupportedMediaType, "client_error"),
)


def error_cause(exc: BaseException) -> str:
    """The ``cause`` label of an error answer (``internal`` for anything unexpected)."""
    for kind, cause in _CAUSES:
        if isinstance(exc, kind):
            return cause
    return "internal"


class GatewayMetrics:
    """Request/latency counters by model, version, backend, protocol and status."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "tandem_gateway_requests_total",
            "Inference-API requests.",
            _LABELS,
            registry=self.registry,
        )
        self.latency = Histogram(
            "tandem_gateway_request_duration_seconds",
            "Gateway request latency.",
            _LABELS,
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.upstream_latency = Histogram(
            "tandem_gateway_upstream_duration_seconds",
            "Backend call latency.",
            ("model", "version", "backend", "outcome"),
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "tandem_gateway_in_flight_requests", "Requests being served.", registry=self.registry
        )
        self.shadow = Counter(
            "tandem_gateway_shadow_requests_total",
            "Shadow copies by outcome.",
            ("model", "version", "outcome"),
            registry=self.registry,
        )
        self.breaker_open = Gauge(
            "tandem_gateway_circuit_open",
            "1 while a backend's circuit is open.",
            ("backend",),
            registry=self.registry,
        )
        self.errors = Counter(
            "tandem_gateway_errors_total",
            "Failed inference-API requests by cause.",
            ("model", "backend", "cause"),
            registry=self.registry,
        )
        self.model_ready = Gauge(
            "tandem_gateway_model_ready",
            "1 while the model's default version answers on its backend.",
            ("model", "backend"),
            registry=self.registry,
        )
        self.recent_errors: deque[RecentError] = deque(maxlen=RECENT_ERRORS)
        self._request_children: dict[tuple[str, str, str, str, int], tuple[Any, Any]] = {}
        self._upstream_children: dict[tuple[str, int, str, str], Any] = {}
        self._breaker_children: dict[str, Any] = {}

    def observe(
        self, *, model: str, version: str, backend: str, protocol: str, status: int, seconds: float
    ) -> None:
        """Count one finished request."""
        key = (model, version, backend, protocol, status)
        children = self._request_children.get(key)
        if children is None:
            labels = (model, version, backend, protocol, str(status))
            children = (self.requests.labels(*labels), self.latency.labels(*labels))
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_upstream(
        self, *, model: str, version: int, backend: str, outcome: str, seconds: float
    ) -> None:
        """Time one backend call."""
        key = (model, version, backend, outcome)
        child = self._upstream_children.get(key)
        if child is None:
            child = self.upstream_latency.labels(model, str(version), backend, outcome)
            self._upstream_children[key] = child
        child.observe(seconds)

    def observe_error(
        self, exc: BaseException, *, model: str, backend: str, status: int, request_id: str
    ) -> None:
        """Count one failed request by cause and keep it among the recent errors."""
        cause = error_cause(exc)
        self.errors.labels(model, backend, cause).inc()
        message = exc.message if isinstance(exc, GatewayError) else "internal error"
        self.recent_errors.append(
            RecentError(time.time(), model, backend, status, cause, message[:300], request_id)
        )

    def set_model_ready(self, model: str, backend: str, ready: bool) -> None:
        """Publish a model's readiness (updated whenever it is probed)."""
        self.model_ready.labels(model, backend).set(1 if ready else 0)

    def set_breaker_open(self, backend: str, is_open: bool) -> None:
        """Publish whether ``backend``'s circuit is open."""
        child = self._breaker_children.get(backend)
        if child is None:
            child = self._breaker_children[backend] = self.breaker_open.labels(backend)
        child.set(1 if is_open else 0)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
