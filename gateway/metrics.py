"""Prometheus metrics of one gateway app (own registry, so tests can build many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_LABELS = ("model", "version", "backend", "protocol", "status")


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

    def observe(
        self, *, model: str, version: str, backend: str, protocol: str, status: int, seconds: float
    ) -> None:
        """Count one finished request."""
        labels = (model, version, backend, protocol, str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
