"""Backend kinds as data: one object per kind of server, and the registry callers loop over.

A kind says which manifest models it serves (by framework) and holds, once, what was spread
over `if framework == ...` chains: its name in code (`id`: the route file's backend kind, the
Prometheus job, the manifest's `servers:` key), its deploy component (the user-facing name of
its compose service, Kubernetes Deployment/Service/ConfigMaps and image), its container
ports and where a served version lives in the model repository.

Started by issue 17 (item 2): configgen and the Kubernetes renderer read it. Not in it yet:
readiness, process command, config files, metrics endpoints, GPU accounting (they depend on
the placement, item 1), and the local stack's and compose's own copies of these names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tandem.layout import Layout
from tandem.manifest import Framework, Manifest, ModelSpec

KindId = Literal["tfserving", "torchserve"]


@dataclass(frozen=True)
class BackendKind:
    """One kind of model server."""

    id: KindId
    """The one spelling in code: route-file backend kind, Prometheus job, `servers:` key."""
    framework: Framework
    """The manifest models it serves: those of this framework."""
    component: str
    """The user-facing deploy name (compose service, Kubernetes Deployment and Service)."""
    image: str
    container_ports: Mapping[str, int] = field(default_factory=dict)
    """Named ports inside its container (Kubernetes, compose)."""
    metrics_path: str = "/metrics"
    """Where Prometheus scrapes it."""
    metrics_port_name: str = "http"
    """The container port that serves `metrics_path`."""
    metrics_server_port: str = "rest_port"
    """The field of its manifest `servers:` entry holding that port."""

    def models(self, manifest: Manifest) -> list[ModelSpec]:
        """The manifest's models this kind serves, in manifest order."""
        return [m for m in manifest.models if m.framework == self.framework]

    def repository_paths(self, model: ModelSpec) -> list[str]:
        """Each served version of `model`, relative to the model repository (build) root."""
        relative = Layout(Path())
        return [
            str(relative.artifact(self.framework, model.name, v)) for v in model.served_versions
        ]


TFSERVING = BackendKind(
    id="tfserving",
    framework="tensorflow",
    component="tf-serving",
    image="tandem/tf-serving",
    container_ports={"grpc": 8500, "http": 8501},
    metrics_path="/monitoring/prometheus/metrics",  # as its monitoring.config says
)
TORCHSERVE = BackendKind(
    id="torchserve",
    framework="pytorch",
    component="torchserve",
    image="tandem/torchserve",
    container_ports={"http": 8080, "grpc": 7070, "metrics": 8082},
    metrics_port_name="metrics",
    metrics_server_port="metrics_port",
)

KINDS: tuple[BackendKind, ...] = (TFSERVING, TORCHSERVE)
"""Every kind, in the order configs and trees list them."""


def kind_for(framework: str) -> BackendKind:
    """The kind serving `framework` models (KeyError for a framework none serves)."""
    for kind in KINDS:
        if kind.framework == framework:
            return kind
    raise KeyError(f"no backend kind serves {framework!r} models")
