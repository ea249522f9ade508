"""Prometheus metrics of one gateway app (own registry, so tests can build many apps).

The per-request helpers keep the labelled children they use: ``labels()`` takes a lock and
builds a key on every call, and the label sets are bounded by the route table.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from gateway.errors import (
    BackendUnavailable,
    BadRequest,
    CircuitOpen,
    GatewayError,
    ModelNotReady,
    NotFound,
    Overloaded,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
    UnsupportedMediaType,
    UpstreamError,
    UpstreamTimeout,
)
from gateway.schemas.status import RecentError

_DIFF_BUCKETS = (1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0)
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_LABELS = ("model", "version", "backend", "protocol", "status")
RECENT_ERRORS = 50
#: ``reason`` label values of ``tandem_gateway_shed_total`` (gateway.dataplane.admission).
SHED_REASONS = ("queue_full", "deadline")

#: Error class -> cause label, most specific first (the dashboard and /ui group by these).
_CAUSES: tuple[tuple[type[GatewayError], str], ...] = (
    (Overloaded, "overloaded"),
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


@dataclass(frozen=True, slots=True)
class Disagreement:
    """One shadowed request whose two answers disagreed, kept for the status page."""

    at: float
    twin: str
    primary: str
    shadow: str
    request_id: str
    outputs: tuple[str, ...]
    """Outputs that disagreed."""
    max_abs_diff: dict[str, float]
    inputs: dict[str, list[int]]
    """Input shapes (always) ..."""
    payload: dict[str, object] | None = None
    """... and the input tensors themselves, only when ``twin_keep_inputs`` is on."""


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
        self.in_flight_count = 0
        """Requests being served now (kept by ``GatewayMiddleware``; read at scrape time)."""
        self.in_flight = Gauge(
            "tandem_gateway_in_flight_requests", "Requests being served.", registry=self.registry
        )
        self.in_flight.set_function(lambda: self.in_flight_count)
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
        self.shed = Counter(
            "tandem_gateway_shed_total",
            "Inference requests refused by admission control before reaching the backend "
            "(reason: queue_full or deadline).",
            ("model", "reason"),
            registry=self.registry,
        )
        self.twin_requests = Counter(
            "tandem_twin_requests_total",
            "Requests to a twin's public name, by the variant that served them.",
            ("twin", "variant"),
            registry=self.registry,
        )
        self.twin_comparisons = Counter(
            "tandem_twin_comparisons_total",
            "Shadowed twin requests compared, by result (agree, disagree; error: an answer "
            "missing, not compared).",
            ("twin", "primary", "shadow", "result"),
            registry=self.registry,
        )
        self.twin_output_comparisons = Counter(
            "tandem_twin_output_comparisons_total",
            "Compared twin outputs, by result.",
            ("twin", "output", "result"),
            registry=self.registry,
        )
        self.twin_abs_diff = Histogram(
            "tandem_twin_abs_diff",
            "Largest |primary - shadow| of one compared numeric output.",
            ("twin", "output"),
            buckets=_DIFF_BUCKETS,
            registry=self.registry,
        )
        self.twin_max_abs_diff = Gauge(
            "tandem_twin_max_abs_diff",
            "Largest |primary - shadow| of a numeric output since the gateway started.",
            ("twin", "output"),
            registry=self.registry,
        )
        self.twin_objective = Gauge(
            "tandem_twin_agreement_objective",
            "Share of compared requests that must agree (from the route file).",
            ("twin",),
            registry=self.registry,
        )
        self.recent_errors: deque[RecentError] = deque(maxlen=RECENT_ERRORS)
        self.disagreements: deque[Disagreement] = deque(maxlen=20)
        self._max_diff: dict[tuple[str, str], float] = {}
        self._request_children: dict[tuple[str, str, str, str, int], tuple[Any, Any]] = {}
        self._upstream_children: dict[tuple[str, int, str, str], Any] = {}
        self._breaker_children: dict[str, Any] = {}
        self._breaker_state: dict[str, bool] = {}
        self._shed_children: dict[tuple[str, str], Any] = {}

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

    def declare_model(self, model: str) -> None:
        """Create a routed model's shed series at zero, so rates exist before any shedding
        (called by the dataplane for every model of each route table)."""
        for reason in SHED_REASONS:
            self._shed_child(model, reason)

    def _shed_child(self, model: str, reason: str) -> Any:
        key = (model, reason)
        child = self._shed_children.get(key)
        if child is None:
            child = self._shed_children[key] = self.shed.labels(model, reason)
        return child

    def observe_shed(self, model: str, reason: str) -> None:
        """Count one request shed by admission control."""
        self._shed_child(model, reason).inc()

    def shed_counts(self) -> dict[str, int]:
        """Shed requests per model since start, every reason together (for the status page)."""
        counts: dict[str, int] = {}
        for family in self.shed.collect():
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    model = sample.labels["model"]
                    counts[model] = counts.get(model, 0) + int(sample.value)
        return counts

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
        """Publish whether ``backend``'s circuit is open (called after every backend call:
        the gauge is only written when the state changes)."""
        known = self._breaker_state.get(backend)
        if known is is_open:
            return
        self._breaker_state[backend] = is_open
        child = self._breaker_children.get(backend)
        if child is None:
            child = self._breaker_children[backend] = self.breaker_open.labels(backend)
        child.set(1 if is_open else 0)

    def keep_disagreements(self, count: int) -> None:
        """Keep the latest ``count`` disagreements (settings: ``twin_disagreements_kept``)."""
        self.disagreements = deque(self.disagreements, maxlen=count)

    def observe_comparison(
        self,
        *,
        twin: str,
        primary: str,
        shadow: str,
        agree: bool | None,
        outputs: Sequence[tuple[str, bool, float | None]] = (),
    ) -> None:
        """Count one shadow comparison (``agree`` None: an answer was missing) and each
        compared output as ``(name, agreed, max |diff| or None)``."""
        result = "error" if agree is None else "agree" if agree else "disagree"
        self.twin_comparisons.labels(twin, primary, shadow, result).inc()
        for name, ok, diff in outputs:
            self.twin_output_comparisons.labels(twin, name, "agree" if ok else "disagree").inc()
            if diff is not None:
                self.twin_abs_diff.labels(twin, name).observe(diff)
                key = (twin, name)
                if diff > self._max_diff.get(key, -1.0):
                    self._max_diff[key] = diff
                    self.twin_max_abs_diff.labels(twin, name).set(diff)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
