"""The gateway's view of ``build/config/routes.json`` (written by ``tandem export``).

Parsed once at start-up by :func:`load_route_table`; unknown keys are tolerated so the export
side can add fields without breaking the gateway. Optional gateway extras per model:
``canary_weights`` (``{"2": 0.1}``: share of unpinned traffic sent to version 2) and
``shadow_version`` (a version that receives a fire-and-forget copy of every request).
``admission`` bounds the requests in flight and waiting per model (see :class:`Admission`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from wire.dtypes import DTypeName
from wire.spec import TensorSpec

__all__ = ["Admission", "BackendRoute", "DTypeName", "ModelRoute", "RouteTable", "TensorSpec"]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class BackendRoute(_Lenient):
    """Where one backend server listens."""

    kind: Literal["tfserving", "torchserve"]
    grpc_target: str | None = None
    rest_url: str | None = None
    token_file: Path | None = None


def default_queue(max_in_flight: int) -> int:
    """Requests allowed to wait for a slot when the manifest names no ``max_queue``."""
    return 4 * max_in_flight


class Admission(_Lenient):
    """Per-model admission bounds of the gateway: at most ``max_in_flight`` requests at the
    backend and ``max_queue`` more waiting for a slot; past that a request is refused at once
    (503 + ``Retry-After``) instead of queueing until its caller gives up."""

    max_in_flight: int = Field(ge=1)
    max_queue: int = Field(ge=0)

    @classmethod
    def derive(cls, *, workers: int, batch_size: int) -> Admission:
        """The default bounds for a backend running ``workers`` model workers (or batch
        threads) of ``batch_size`` rows: two batches per worker in flight (one running, one
        filling) and four times that waiting (:func:`default_queue`), a short wait at the
        backend's pace. The manifest's default and the gateway's fallback for a route file
        without bounds both come from here."""
        in_flight = max(1, workers) * max(1, batch_size) * 2
        return cls(max_in_flight=in_flight, max_queue=default_queue(in_flight))


class ModelRoute(_Lenient):
    """How one public model name maps onto a backend model."""

    framework: str
    backend: str
    upstream_name: str
    versions: tuple[int, ...] = Field(min_length=1)
    default_version: int
    labels: dict[str, int] = Field(default_factory=dict)
    signature_name: str | None = None
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    max_batch_size: int | None = None
    timeout_ms: int = Field(default=5000, gt=0)
    canary_weights: dict[int, float] = Field(default_factory=dict)
    shadow_version: int | None = None
    admission: Admission | None = None
    """``None`` (a route file from before admission control): derived from
    ``max_batch_size`` with one worker, see :meth:`Admission.derive`."""

    @property
    def admission_limits(self) -> Admission:
        """The bounds in force: the route file's, else derived."""
        if self.admission is not None:
            return self.admission
        return Admission.derive(workers=1, batch_size=self.max_batch_size or 1)

    @model_validator(mode="after")
    def _versions_consistent(self) -> ModelRoute:
        known = set(self.versions)
        if self.default_version not in known:
            raise ValueError(f"default_version {self.default_version} not in versions")
        for label, version in self.labels.items():
            if version not in known:
                raise ValueError(f"label {label!r} points at unknown version {version}")
        for version, weight in self.canary_weights.items():
            if version not in known or not 0.0 <= weight <= 1.0:
                raise ValueError(f"bad canary weight {weight} for version {version}")
        if sum(self.canary_weights.values()) > 1.0 + 1e-9:
            raise ValueError("canary weights add up to more than 1")
        return self


class RouteTable(_Lenient):
    """The whole route file."""

    schema_version: Literal[1]
    backends: dict[str, BackendRoute]
    models: dict[str, ModelRoute]

    @model_validator(mode="after")
    def _backends_exist(self) -> RouteTable:
        for name, model in self.models.items():
            if model.backend not in self.backends:
                raise ValueError(f"model {name!r} names unknown backend {model.backend!r}")
        return self


def load_route_table(path: Path) -> RouteTable:
    """Read and validate the route file at ``path`` (raises on a missing or bad file)."""
    return RouteTable.model_validate_json(path.read_bytes())
