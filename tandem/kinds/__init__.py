"""The contract of a backend kind: one object per kind of model server.

Each kind lives in one module of this package (`tfserving`, `torchserve`), which holds its
data (the `BackendKind` value below) and the code that only it needs: its config generators,
its local-stack process, its Kubernetes Deployment, its KServe files. `tandem.backend_kinds`
registers them (`KINDS`, the registry every caller loops over instead of branching on the
framework).

A kind says which manifest models it serves (by framework) and holds, once: its name in code
(`id`: the route file's backend kind, the Prometheus job, the manifest's `servers:` key, the
local stack's service), its deploy component (compose service, Kubernetes
Deployment/Service/ConfigMaps, image), its ports (the one definition of the container port
numbers), where a served version lives in the model repository, the config files its server
reads, its readiness rule and probe, GPU accounting, metrics endpoint, KServe runtime and the
flags the route file carries for it. Where a stack runs (hosts, the ports actually bound,
paths, tokens) is `tandem.placement`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from gateway.route_table import BackendKindName
from tandem.layout import Layout
from tandem.manifest import Framework, Manifest, ModelSpec

if TYPE_CHECKING:
    from tandem.placement import Placement
    from tandem.stack.service import PlacedService

KindId = BackendKindName
"""A kind's id is the name of the gateway's adapter for it (the route file's backend kind)."""
ConfigGenerator = Callable[[Manifest, "Placement"], dict[str, str]]
"""A kind's config files for a placement (file name → text)."""


KServeFiles = Callable[[ModelSpec, "Placement", Layout], dict[str, "str | Path"]]
"""One model's files for its KServe runtime, relative to its storageUri: text to write, or
an exported file (under the build `Layout`) to copy when it exists."""


class LocalService(Protocol):
    """Builds a kind's process of the local stack (`tandem up`) serving `manifest` from the
    build directory `layout` where the local placement `place` says; `insecure` is
    `--insecure-dev` (its own auth off, if any)."""

    def __call__(
        self, manifest: Manifest, layout: Layout, place: Placement, *, insecure: bool
    ) -> PlacedService: ...


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
    artifact_path: Callable[[Layout, str, int], Path]
    """Where one exported version of a model lives in a build directory (`artifact`)."""
    gpu_env: str
    """The compose variable holding its container's GPU count (docker-compose.gpu.yml)."""
    ports: Mapping[str, int] = field(default_factory=dict)
    """Every named port with its container (compose, Kubernetes) number: the one definition
    of these numbers (the manifest's `servers:` defaults and docker-compose.yml are checked
    against it by tests/tandem/test_placement.py)."""
    server_ports: Mapping[str, str] = field(default_factory=dict)
    """Port name → the field of its manifest `servers:` entry (the local placement's port)."""
    private_ports: frozenset[str] = frozenset()
    """Ports bound on the placement's management address, never exposed by a Service."""
    kserve_runtime: str = ""
    """KServe's stock ServingRuntime for its models (`tandem k8s render --kserve`)."""
    kserve_storage: str = ""
    """The model repository folder holding a model's KServe storageUri."""
    kserve_ports: Mapping[str, int] = field(default_factory=dict)
    """Its server's ports inside KServe's runtime image where they differ from `ports` (the
    KServe placement's); empty: the same."""
    kserve_gateway: bool = False
    """Its KServe runtime speaks the protocol of the gateway's adapter for it, so the gateway
    routes to its InferenceServices (`tandem k8s render --kserve`); otherwise they are called
    at their own URL."""
    kserve_files: KServeFiles | None = None
    """What its KServe runtime reads beside the export under `<kserve_storage>/<model>/`
    (None: the export's own folder is the storageUri)."""
    signatures: bool = False
    """Its models are called by signature name (the route carries `signature_name`)."""
    checks_shapes: bool = True
    """The gateway holds inputs to the model's input shapes (the route's `check_shapes`).
    TF Serving does not (a TF model's ops decide: its quickstart sends `[1.0, 2.0, 5.0]` to
    `x: [-1, 1]`), so neither does the gateway for its models."""
    predict_path: str = ""
    """Its own REST predict path (`{name}`: the model), for the curls `tandem up` prints."""
    registers_versions: bool = False
    """A new version goes live by registering it through the management API (`tandem
    rollout`); otherwise the server picks it up from the model directory itself."""
    tokens: bool = False
    """It issues its own API tokens, which the gateway presents (the route's `token_file`)."""
    config_files: tuple[str, ...] = ()
    """The generated configs (`tandem.configgen.render_all` names) its server reads."""
    render_configs: ConfigGenerator | None = None
    """Its configs for a placement: file name → text, exactly the `config_files` (its
    module's generators; `tandem.configgen.render_all` merges every kind's)."""
    local_service: LocalService | None = None
    """Its process in the local stack (`tandem.stack.Stack` builds one per kind)."""
    k8s_resources: Callable[[Manifest], list[dict[str, Any]]] | None = None
    """Its Deployment, Service and PodDisruptionBudget in the kustomize base
    (`tandem.k8s.render`; built from `tandem.k8s.objects`); [] when it serves no model."""
    probe: str | None = None
    """Its readiness rule as a module of `tandem.probes` that runs inside its image (the
    local stack, the image's healthcheck and the Kubernetes probe all run it); None: the rule
    is an HTTP status check (see `readiness`)."""
    probe_command: tuple[str, ...] = ()
    """The command its container runs for readiness: the image's healthcheck and the
    Kubernetes startup/readiness probe (`{config}`: the directory of the generated configs)."""
    readiness: str = ""
    """What "ready" means for it, in words (the one meaning every place checks)."""
    metrics_path: str = "/metrics"
    """Where Prometheus scrapes it."""
    metrics_port_name: str = "http"
    """The port that serves `metrics_path`."""

    @property
    def container_ports(self) -> dict[str, int]:
        """The ports its container exposes (Kubernetes container and Service ports)."""
        return {n: p for n, p in self.ports.items() if n not in self.private_ports}

    def models(self, manifest: Manifest) -> list[ModelSpec]:
        """The manifest's models this kind serves, in manifest order."""
        # The one place a model is matched to its kind; everyone else asks `kind_for`/`models`.
        return [m for m in manifest.models if m.framework == self.framework]

    def configs(self, manifest: Manifest, place: Placement) -> dict[str, str]:
        """Its config files for `place` (`config_files`, in that order)."""
        if self.render_configs is None:
            return {}
        return self.render_configs(manifest, place)

    def artifact(self, layout: Layout, name: str, version: int) -> Path:
        """The version directory (TF Serving) or .mar file (TorchServe) of one version."""
        return self.artifact_path(layout, name, version)

    def gpus(self, manifest: Manifest, device: Literal["cpu", "gpu"] | None = None) -> int:
        """GPUs one server process of this kind reserves: the most any of its models asks for
        (they share the process); `device` forces every model to that kind (see `gpu_count`)."""
        return max((gpu_count(m, device) for m in self.models(manifest)), default=0)

    def repository_paths(self, model: ModelSpec) -> list[str]:
        """Each served version of `model`, relative to the model repository (build) root."""
        relative = Layout(Path())
        return [str(self.artifact(relative, model.name, v)) for v in model.served_versions]


def gpu_count(model: ModelSpec, device: Literal["cpu", "gpu"] | None = None) -> int:
    """GPUs `model` asks for; `device="cpu"` forces none, `device="gpu"` at least one (the
    Kubernetes overlays); None keeps the manifest's `device`."""
    if device is None:
        return model.device.count
    return max(1, model.device.count) if device == "gpu" else 0
