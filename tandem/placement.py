"""Where a stack runs: one typed value per place, taken by every config generator.

The generators (`tandem.configgen`, `tandem.monitoring.prometheus`, `deploy.compose`,
`tandem.k8s`) are pure functions of (manifest, placement): what differs between places is
said here, once, and nothing patches their output afterwards.

                       local (`tandem up`)   compose              Kubernetes         KServe
    model root         <out>                 /models              /models            /mnt/models
    servers bind       servers: hosts        0.0.0.0              0.0.0.0            0.0.0.0
    servers reached    servers: hosts        service names        Service names      (per model)
    ports              servers: ports        each kind's container ports (`BackendKind.ports`)
    TorchServe token   on, key file in       on, key file on a    off (see below)    off
                       <out>/torchserve/     shared volume
    management binds   127.0.0.1             0.0.0.0 (HTTP only:  127.0.0.1          127.0.0.1
                                             published on the
                                             host's loopback)
    writable paths     <out>/torchserve/     /tmp, /var/log/...   emptyDirs          the image's
    launcher           tandem                tandem               tandem             KServe

TorchServe's token auth is off in Kubernetes: 0.12 generates random, expiring keys per
process, so replicas behind one Service cannot share a key with the gateway (a NetworkPolicy
guards its ports instead); KServe's front end sends no token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tandem.backend_kinds import KINDS, TORCHSERVE
from tandem.layout import TORCHSERVE_KEY_FILE, Layout
from tandem.manifest import Manifest

PlacementName = Literal["local", "compose", "kubernetes", "kserve"]
Device = Literal["cpu", "gpu"]

GATEWAY = "gateway"
"""The gateway's key in `Placement.servers` (the backends are keyed by `BackendKind.id`)."""
GATEWAY_PORTS: Mapping[str, int] = {"http": 8000, "grpc": 8001}
"""The gateway's container ports (compose, Kubernetes); the manifest's defaults."""
ANY = "0.0.0.0"
LOOPBACK = "127.0.0.1"

CONTAINER_ROOT = Path("/models")
"""Where containers (compose, Kubernetes) mount the exported build directory, read-only."""
CONTAINER_CONFIG = CONTAINER_ROOT / "config"
COMPOSE_KEY_DIR = Path("/run/tandem/torchserve")
"""TorchServe's working directory in its compose container: it writes the key file there, on
a volume the gateway mounts read-only."""
COMPOSE_SCRAPE_KEY = Path("/run/secrets/prometheus_api_key")
"""Where the compose Prometheus container finds its scrape key."""
KSERVE_ROOT = Path("/mnt/models")
"""Where KServe's storage initializer puts a model's storageUri."""
KSERVE_TORCHSERVE_PORTS: Mapping[str, int] = {
    # KServe's TorchServe image puts its own protocol front end on the predictor port (8080)
    # and forwards to TorchServe on 8085; metrics on 8082 as the runtime announces.
    "http": 8085,
    "grpc": 7070,
    "metrics": 8082,
    "management": 8081,
    "grpc-management": 7071,
}


@dataclass(frozen=True)
class ServerPlace:
    """One server's network place."""

    bind: str
    """The address it listens on."""
    reach: str
    """The host the gateway and Prometheus dial to reach it."""
    ports: Mapping[str, int]
    """Named ports (`BackendKind.ports` names; the gateway's `GATEWAY_PORTS` names)."""

    def target(self, port: str) -> str:
        """`host:port` where others reach its port `port`."""
        return f"{self.reach}:{self.ports[port]}"

    def url(self, port: str) -> str:
        return f"http://{self.target(port)}"


@dataclass(frozen=True)
class TorchServeSetup:
    """Where TorchServe's own files and management APIs live in this place."""

    model_store: Path
    launcher: Literal["tandem", "kserve"]
    """`tandem`: a TorchServe process this project starts (local, compose and Kubernetes
    images): models registered by `load_models`, the model API on for `tandem rollout`, the
    JVM's temp and log paths and the queue bound set here. `kserve`: KServe's image starts it
    behind its own front end: models from a `model_snapshot`, settings from its environment,
    no model API."""
    management_bind: str = LOOPBACK
    """Where the HTTP management API listens (it can load arbitrary code)."""
    grpc_management_bind: str = LOOPBACK
    tmp_dir: Path | None = None
    """java.io.tmpdir (holds the worker sockets): writable, one per stack."""
    logs_dir: Path | None = None
    log4j_file: Path | None = None


@dataclass(frozen=True)
class Placement:
    """Where one stack runs: built once per place (`local`, `compose`, `kubernetes`,
    `kserve`) and passed to every config generator."""

    name: PlacementName
    model_root: Path
    """The exported build directory as the servers see it."""
    servers: Mapping[str, ServerPlace]
    """By backend kind id, and `GATEWAY`."""
    torchserve: TorchServeSetup
    token_auth: bool
    """TorchServe's token authorization."""
    token_file: Path | None
    """TorchServe's key file where the gateway reads it (None: no token to present)."""
    token_expiration_min: int | None
    """Lifetime of TorchServe's tokens (None: the launcher's default)."""
    scrape_key_file: Path | None = None
    """The key Prometheus presents to the gateway's /metrics (None: not configured here)."""
    device: Device | None = None
    """Every model's device forced to this kind (the Kubernetes overlays); None: the manifest's."""

    @property
    def layout(self) -> Layout:
        """The build directory's layout as the servers see it."""
        return Layout(self.model_root)

    def server(self, key: str) -> ServerPlace:
        return self.servers[key]


def _gateway_ports(manifest: Manifest) -> dict[str, int]:
    g = manifest.data.servers.gateway
    return {"http": g.port, "grpc": g.grpc_port}


def local(manifest: Manifest, out: Path) -> Placement:
    """`tandem up`: every server on this machine, where the manifest's `servers:` says, the
    build directory `out` (resolved) as the model root."""
    out = out.resolve()
    layout = Layout(out)
    servers: dict[str, ServerPlace] = {}
    for kind in KINDS:
        server = getattr(manifest.data.servers, kind.id)
        ports = {name: int(getattr(server, field)) for name, field in kind.server_ports.items()}
        servers[kind.id] = ServerPlace(bind=server.host, reach=server.host, ports=ports)
    g = manifest.data.servers.gateway
    servers[GATEWAY] = ServerPlace(bind=g.host, reach=g.host, ports=_gateway_ports(manifest))
    return Placement(
        name="local",
        model_root=out,
        servers=servers,
        torchserve=TorchServeSetup(
            model_store=layout.model_store,
            launcher="tandem",
            tmp_dir=layout.torchserve_home / "tmp",
            logs_dir=layout.torchserve_home / "logs",
            log4j_file=layout.config / "log4j2.xml",
        ),
        token_auth=True,
        token_file=layout.torchserve_key_file,
        token_expiration_min=manifest.data.servers.torchserve.token_expiration_min,
        scrape_key_file=layout.gateway_api_key,
    )


def service_name(key: str) -> str:
    """The compose service and Kubernetes Service of a server (`BackendKind.id` or `GATEWAY`),
    which is its host name on the compose network and in the cluster namespace."""
    names: dict[str, str] = {k.id: k.component for k in KINDS}
    names[GATEWAY] = GATEWAY
    return names[key]


def _containers() -> dict[str, ServerPlace]:
    """Every server bound to all interfaces on its container ports, reached by service name."""
    servers: dict[str, ServerPlace] = {
        k.id: ServerPlace(bind=ANY, reach=service_name(k.id), ports=k.ports) for k in KINDS
    }
    servers[GATEWAY] = ServerPlace(bind=ANY, reach=GATEWAY, ports=GATEWAY_PORTS)
    return servers


def compose(manifest: Manifest) -> Placement:
    """The compose stack: one container per server on the compose network, reached by
    service name; the build mounted read-only at /models."""
    return Placement(
        name="compose",
        model_root=CONTAINER_ROOT,
        servers=_containers(),
        torchserve=TorchServeSetup(
            model_store=Layout(CONTAINER_ROOT).model_store,
            launcher="tandem",
            # Reachable only on the compose network and through a port published on the
            # host's 127.0.0.1 (for `tandem rollout`), and token protected.
            management_bind=ANY,
            tmp_dir=Path("/tmp"),
            logs_dir=Path("/var/log/torchserve"),
            log4j_file=CONTAINER_CONFIG / "log4j2.xml",
        ),
        token_auth=True,
        token_file=COMPOSE_KEY_DIR / TORCHSERVE_KEY_FILE,
        token_expiration_min=manifest.data.servers.torchserve.token_expiration_min,
        scrape_key_file=COMPOSE_SCRAPE_KEY,
    )


def kubernetes(manifest: Manifest, device: Device) -> Placement:
    """The kustomize tree: one Deployment per server, reached by Service name; the build
    fetched (or mounted) at /models; `device` is the overlay's (cpu, gpu)."""
    layout = Layout(CONTAINER_ROOT)
    return Placement(
        name="kubernetes",
        model_root=CONTAINER_ROOT,
        servers=_containers(),
        torchserve=TorchServeSetup(
            model_store=layout.model_store,
            launcher="tandem",
            tmp_dir=layout.torchserve_home / "tmp",
            logs_dir=layout.torchserve_home / "logs",
            log4j_file=CONTAINER_CONFIG / "log4j2.xml",
        ),
        token_auth=False,
        token_file=None,
        token_expiration_min=manifest.data.servers.torchserve.token_expiration_min,
        device=device,
    )


def kserve() -> Placement:
    """KServe's stock runtimes: one InferenceService per model, its storageUri at
    /mnt/models; TorchServe behind KServe's own front end."""
    servers = _containers()
    servers[TORCHSERVE.id] = ServerPlace(bind=ANY, reach="", ports=KSERVE_TORCHSERVE_PORTS)
    return Placement(
        name="kserve",
        model_root=KSERVE_ROOT,
        servers=servers,
        torchserve=TorchServeSetup(model_store=KSERVE_ROOT / "model-store", launcher="kserve"),
        token_auth=False,
        token_file=None,
        token_expiration_min=None,
    )


def as_placement(manifest: Manifest, where: Placement | Path) -> Placement:
    """`where` itself, or the local stack's placement for the build directory `where`."""
    return where if isinstance(where, Placement) else local(manifest, where)
