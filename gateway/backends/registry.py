"""Build one adapter per backend of the route file, chosen by its ``kind``."""

from __future__ import annotations

from collections.abc import Callable

from gateway.backends.base import Backend
from gateway.backends.resilience import CircuitBreaker, ResilientBackend
from gateway.backends.tfserving import TFServingBackend
from gateway.backends.torchserve import TorchServeBackend
from gateway.route_table import BackendRoute, RouteTable
from gateway.settings import GatewaySettings

Factory = Callable[[str, BackendRoute, GatewaySettings], Backend]

FACTORIES: dict[str, Factory] = {
    "tfserving": lambda name, cfg, s: TFServingBackend(
        name, cfg, prefer_grpc=s.prefer_grpc, rest_below_bytes=s.rest_below_bytes
    ),
    "torchserve": lambda name, cfg, s: TorchServeBackend(
        name,
        cfg,
        prefer_grpc=s.prefer_grpc,
        rest_below_bytes=s.rest_below_bytes,
        binary=s.torchserve_binary,
        token_file=s.torchserve_token_file,
    ),
}


def build_backends(table: RouteTable, settings: GatewaySettings) -> dict[str, ResilientBackend]:
    """One resilient adapter per backend named in the route table."""
    return {name: build_backend(name, cfg, settings) for name, cfg in table.backends.items()}


def build_backend(name: str, cfg: BackendRoute, settings: GatewaySettings) -> ResilientBackend:
    """One resilient adapter for the backend ``cfg`` (also used when the route file changes)."""
    return wrap(FACTORIES[cfg.kind](name, cfg, settings), settings)


def wrap(backend: Backend, settings: GatewaySettings) -> ResilientBackend:
    """Add the circuit breaker and connect retries configured in ``settings``."""
    breaker = CircuitBreaker(backend.name, settings.breaker_failures, settings.breaker_reset_s)
    return ResilientBackend(backend, breaker, settings.connect_retries)
