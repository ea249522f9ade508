"""Backend kinds as data: one object per kind of server, and the registry callers loop over.

A kind says which manifest models it serves (by framework) and holds, once, what was spread
over `if framework == ...` chains: its name in code (`id`: the route file's backend kind, the
Prometheus job, the manifest's `servers:` key, the local stack's service), its deploy
component (compose service, Kubernetes Deployment/Service/ConfigMaps, image), its ports (the
one definition of the container port numbers), where a served version lives in the model
repository, the config files its server reads, its readiness rule and probe, GPU accounting,
metrics endpoint, KServe runtime and the flags the route file carries for it.

Where a stack runs (hosts, the ports actually bound, paths, tokens) is `tandem.placement`'s.
Still outside: each kind's config generators (`tandem.configgen`), its local process
(`tandem.stack.backends`), its Deployment builder (`tandem.k8s.render.RESOURCES`) and its
gateway adapter (`gateway.backends.registry`); the README lists what a third kind touches.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
        return [m for m in manifest.models if kind_for(m.framework) is self]

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


TFSERVING = BackendKind(
    id="tfserving",
    framework="tensorflow",
    component="tf-serving",
    image="tandem/tf-serving",
    artifact_path=Layout.tensorflow_version,
    gpu_env="TANDEM_TF_GPUS",
    ports={"grpc": 8500, "http": 8501},
    server_ports={"grpc": "grpc_port", "http": "rest_port"},
    kserve_runtime="kserve-tensorflow-serving",
    kserve_storage="tensorflow",
    signatures=True,
    checks_shapes=False,
    config_files=("models.config", "batching_parameters.txt", "monitoring.config"),
    # Its image has no Python: the rule is deploy/healthchecks/tf_serving.sh there.
    probe_command=("/usr/local/bin/tandem-healthcheck",),
    readiness="every served version of every model is AVAILABLE in the REST status API",
    predict_path="/v1/models/{name}:predict",
    metrics_path="/monitoring/prometheus/metrics",  # as its monitoring.config says
)
TORCHSERVE = BackendKind(
    id="torchserve",
    framework="pytorch",
    component="torchserve",
    image="tandem/torchserve",
    artifact_path=Layout.mar,
    gpu_env="TANDEM_TS_GPUS",
    ports={
        "http": 8080,
        "grpc": 7070,
        "metrics": 8082,
        "management": 8081,
        "grpc-management": 7071,
    },
    server_ports={
        "http": "inference_port",
        "grpc": "grpc_inference_port",
        "metrics": "metrics_port",
        "management": "management_port",
        "grpc-management": "grpc_management_port",
    },
    private_ports=frozenset({"management", "grpc-management"}),
    kserve_runtime="kserve-torchserve",
    kserve_storage="kserve",  # config/config.properties beside model-store/ (see kserve.py)
    predict_path="/predictions/{name}",
    registers_versions=True,
    config_files=("config.properties", "log4j2.xml"),
    probe="torchserve_ready",
    probe_command=("python", "{config}/ready.py"),
    readiness="every served version of every model has its minimum workers READY",
    tokens=True,
    metrics_port_name="metrics",
)

KINDS: tuple[BackendKind, ...] = (TFSERVING, TORCHSERVE)
"""Every kind, in the order configs and trees list them."""
_BY_FRAMEWORK: dict[str, BackendKind] = {kind.framework: kind for kind in KINDS}


def gpu_count(model: ModelSpec, device: Literal["cpu", "gpu"] | None = None) -> int:
    """GPUs `model` asks for; `device="cpu"` forces none, `device="gpu"` at least one (the
    Kubernetes overlays); None keeps the manifest's `device`."""
    if device is None:
        return model.device.count
    return max(1, model.device.count) if device == "gpu" else 0


def kind_for(framework: str) -> BackendKind:
    """The kind serving `framework` models (KeyError for a framework none serves)."""
    try:
        return _BY_FRAMEWORK[framework]
    except KeyError:
        raise KeyError(f"no backend kind serves {framework!r} models") from None
