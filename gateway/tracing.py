"""Optional OpenTelemetry tracing, off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.

When on, every request gets a SERVER span (method, route path, status, ``tandem.request_id``)
and each backend call a CLIENT child span (model, version, backend), exported over OTLP/HTTP
by a batch processor (the SDK reads the standard ``OTEL_*`` variables). A W3C
``traceparent``/``tracestate`` that the client sent (HTTP headers, gRPC metadata) makes the
SERVER span its child, and the backend call carries the CLIENT span's context on (HTTP
headers, gRPC metadata), so a caller's trace follows the request through the gateway. When
off, nothing of OpenTelemetry is imported and the hot path pays one ``is None`` test per
request and per backend call. Needs the ``tracing`` extra (opentelemetry-sdk + the OTLP/HTTP
exporter).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Protocol

ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"


class Tracing(Protocol):
    """What the gateway uses of an OpenTelemetry tracer provider."""

    def start_span(
        self,
        name: str,
        *,
        server: bool,
        attributes: Mapping[str, Any],
        carrier: Mapping[str, str] | None = None,
    ) -> Any: ...

    def headers(self) -> dict[str, str]: ...

    def shutdown(self) -> None: ...


class OtelTracing:
    """A tracer provider with a batching OTLP/HTTP exporter."""

    def __init__(self, service_name: str = "tandem-gateway") -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace import SpanKind
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        self._tracer = self.provider.get_tracer("tandem.gateway")
        self._kinds = (SpanKind.SERVER, SpanKind.CLIENT)
        # W3C trace context only (not the process-global propagator a host app may set).
        self._propagator = TraceContextTextMapPropagator()

    def start_span(
        self,
        name: str,
        *,
        server: bool,
        attributes: Mapping[str, Any],
        carrier: Mapping[str, str] | None = None,
    ) -> Any:
        """A context manager making the span current: a child of the ``traceparent`` in
        ``carrier`` (lower-case keys) when it has a valid one, else of the current span."""
        kind = self._kinds[0] if server else self._kinds[1]
        context = self._propagator.extract(carrier) if carrier else None
        return self._tracer.start_as_current_span(
            name, context=context, kind=kind, attributes=dict(attributes)
        )

    def headers(self) -> dict[str, str]:
        """``traceparent`` (and ``tracestate``) of the current span, for a backend call."""
        carrier: dict[str, str] = {}
        self._propagator.inject(carrier)
        return carrier

    def force_flush(self) -> bool:
        return bool(self.provider.force_flush())

    def shutdown(self) -> None:
        self.provider.shutdown()


def tracing_from_env(environ: Mapping[str, str] | None = None) -> OtelTracing | None:
    """Tracing when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, else ``None`` (nothing imported)."""
    env = os.environ if environ is None else environ
    return OtelTracing() if env.get(ENDPOINT_ENV) else None
