"""The gateway's view of ``build/config/routes.json`` (written by ``tandem export``).

Parsed once at start-up by :func:`load_route_table`; unknown keys are tolerated so the export
side can add fields without breaking the gateway. Optional gateway extras per model:
``canary_weights`` (``{"2": 0.1}``: share of unpinned traffic sent to version 2) and
``shadow_version`` (a version that receives a fire-and-forget copy of every request).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from wire.dtypes import DTypeName
from wire.spec import TensorSpec

__all__ = ["BackendRoute", "DTypeName", "ModelRoute", "RouteTable", "TensorSpec"]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class BackendRoute(_Lenient):
    """Where one backend server listens."""

    kind: Literal["tfserving", "torchserve"]
    grpc_target: str | None = None
    rest_url: str | None = None
    token_file: Path | None = None


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
