"""Optional OpenTelemetry tracing, off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.

When on, every request gets a SERVER span (method, route path, status, ``tandem.request_id``)
and each backend call a CLIENT child span (model, version, backend), exported over OTLP/HTTP
by a batch processor (the SDK reads the standard ``OTEL_*`` variables). When off, nothing of
OpenTelemetry is imported and the hot path pays one ``is None`` test per request and per
backend call. Needs the ``tracing`` extra (opentelemetry-sdk + the OTLP/HTTP exporter).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Protocol

ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"


class Tracing(Protocol):
    """What the gateway uses of an OpenTelemetry tracer provider."""

    def start_span(self, name: str, *, server: bool, attributes: Mapping[str, Any]) -> Any: ...

    def shutdown(self) -> None: ...


class OtelTracing:
    """A tracer provider with a batching OTLP/HTTP exporter."""

    def __init__(self, service_name: str = "tandem-gateway") -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace import SpanKind

        self.provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        self._tracer = self.provider.get_tracer("tandem.gateway")
        self._kinds = (SpanKind.SERVER, SpanKind.CLIENT)

    def start_span(self, name: str, *, server: bool, attributes: Mapping[str, Any]) -> Any:
        """A context manager making the span current (a child of the current one, if any)."""
        kind = self._kinds[0] if server else self._kinds[1]
        return self._tracer.start_as_current_span(name, kind=kind, attributes=dict(attributes))

    def force_flush(self) -> bool:
        return bool(self.provider.force_flush())

    def shutdown(self) -> None:
        self.provider.shutdown()


def tracing_from_env(environ: Mapping[str, str] | None = None) -> OtelTracing | None:
    """Tracing when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, else ``None`` (nothing imported)."""
    env = os.environ if environ is None else environ
    return OtelTracing() if env.get(ENDPOINT_ENV) else None
