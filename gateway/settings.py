"""Settings of the gateway component (env prefix ``TANDEM_GATEWAY_``)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_PLACEHOLDER_KEYS = {"changeme", "change-me", "secret", "password", "apikey", "api-key", "test"}


def is_loopback(host: str) -> bool:
    """True when ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class GatewaySettings(BaseSettings):
    """Everything the gateway reads from the environment; passed to ``create_app``."""

    model_config = SettingsConfigDict(env_prefix="TANDEM_GATEWAY_", extra="ignore")

    environment: Literal["development", "production"] = "development"
    """``production`` refuses short or placeholder API keys."""
    routes_file: Path = Path("build/config/routes.json")
    """Route file written by ``tandem export``."""
    routes_reload_s: float = Field(default=1.0, ge=0.0)
    """Seconds between checks of the route file's mtime and size; a changed, valid file is
    swapped in without a restart (``tandem rollout`` relies on it). 0 = never reload."""
    host: str = "127.0.0.1"
    """Bind address; a non-loopback bind requires auth."""
    port: int = Field(default=8000, ge=0, le=65535)
    """Bind port."""
    grpc_port: int | None = Field(default=None, ge=0, le=65535)
    """Port of the gRPC front door (OIP v2 ``GRPCInferenceService``, TF Serving's
    ``PredictionService`` and ``ModelService``) on ``host``, served by the same process and
    event loop; 0 picks a free port. ``None``: no gRPC server. Off unless set, because a
    library or test use of ``create_app`` must not grab a fixed second port; every deploy path
    (``tandem up``, compose, Kubernetes) sets it from the manifest's ``servers.gateway``."""
    grpc_max_message_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    """Largest gRPC message received or sent by the front door (RESOURCE_EXHAUSTED beyond)."""
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    """API keys, comma-separated; an entry ``sha256:<hex>`` is an already-hashed key."""
    api_keys_file: Path | None = None
    """File with one API key (or ``sha256:<hex>``) per line; ``#`` starts a comment."""
    auth_disabled: bool = False
    """Serve without API keys. Refused together with a non-loopback bind."""
    rate_limit_per_s: float = Field(default=0.0, ge=0.0)
    """Sustained requests per second per API key (0 = unlimited)."""
    rate_limit_burst: int = Field(default=50, ge=1)
    """Token bucket size per API key."""
    max_body_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    """Largest request body accepted (413 beyond)."""
    default_timeout_ms: int = Field(default=5000, gt=0)
    """Upstream timeout for a model whose route names none."""
    max_timeout_ms: int = Field(default=60000, gt=0)
    """Cap on any per-model upstream timeout."""
    connect_retries: int = Field(default=1, ge=0, le=5)
    """Retries of a call that never reached the backend."""
    breaker_failures: int = Field(default=5, ge=1)
    """Consecutive backend failures that open its circuit."""
    breaker_reset_s: float = Field(default=1.0, gt=0.0)
    """Seconds an open circuit waits before letting one probe through."""
    prefer_grpc: bool = True
    """Talk gRPC to backends that have a ``grpc_target`` (else REST)."""
    rest_below_bytes: int = Field(default=64 * 1024, ge=0)
    """Send an inference whose tensors are smaller than this over REST even when gRPC is
    preferred, if the backend has a ``rest_url``: a grpc.aio call costs the gateway about
    twice the CPU of a keep-alive HTTP/1.1 exchange, while big tensors travel best as raw
    bytes in gRPC (TF Serving's REST API takes them as JSON). 0 = no exception."""
    torchserve_binary: bool = True
    """Send numeric tensors to TorchServe with the v2 binary extension (else v2 JSON)."""
    torchserve_token_file: Path | None = None
    """Override of the TorchServe key file named in the route file."""
    canary_weights: dict[str, dict[int, float]] = Field(default_factory=dict)
    """Per-model canary weights, overriding the route file: ``{"m": {"2": 0.1}}``."""
    shadow_versions: dict[str, int] = Field(default_factory=dict)
    """Per-model shadow version, overriding the route file."""
    shadow_max_inflight: int = Field(default=16, ge=0)
    """Shadow copies in flight at once; more are dropped, never queued."""
    deadline_header: str = "X-Request-Timeout"
    """Header in which a caller may give its own timeout, in seconds (decimal): the request
    is refused (503) rather than sent on once that much time has passed, and the backend gets
    only what is left. The model's timeout applies either way."""
    sticky_header: str = "X-Tandem-Sticky-Key"
    """Header whose value pins a caller to one canary arm (and one twin variant)."""
    variant_header: str = "X-Tandem-Variant"
    """Request header naming the twin variant to serve a request (the response names the
    variant that answered in the same header)."""
    twin_disagreements_kept: int = Field(default=20, ge=0, le=1000)
    """Latest disagreeing shadow comparisons kept for the status page."""
    twin_keep_inputs: bool = False
    """Keep the input tensors of those disagreements too (they are client data: off by
    default; inputs above 64 KiB are never kept)."""
    ready_cache_s: float = Field(default=2.0, ge=0.0)
    """How long a backend readiness answer is reused."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Root log level (JSON logs on stderr)."""
    access_log: bool = False
    """One structured log line per request (costs about 7% of the gateway's CPU at load)."""
    access_log_sample: float = Field(default=0.01, ge=0.0, le=1.0)
    """Share of requests that get an access-log line when ``access_log`` is off (0 = none);
    errors are logged where they are raised either way."""
    proxy_headers: bool = False
    """Trust ``X-Forwarded-For``/``-Proto`` from ``forwarded_allow_ips`` (uvicorn's proxy
    headers layer, one more step per request); on only behind a proxy that sets them."""
    forwarded_allow_ips: str = "127.0.0.1"
    """Addresses whose forwarded headers are trusted when ``proxy_headers`` is on."""

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> GatewaySettings:
        if self.auth_disabled and not is_loopback(self.host):
            raise ValueError("auth_disabled is only allowed with a loopback bind (127.0.0.1)")
        if self.environment == "production":
            for key in self.api_keys:
                raw = key.get_secret_value()
                if raw.startswith("sha256:"):
                    continue
                if len(raw) < 16 or raw.lower() in _PLACEHOLDER_KEYS:
                    raise ValueError("API keys must be at least 16 characters in production")
        return self
