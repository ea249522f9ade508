"""Parse TF Serving's text-format config files into typed, validated values.

Called by :mod:`main` at start-up, by the config-file poller and by
``ModelService.HandleReloadConfigRequest``. Every problem becomes a :class:`ConfigError`
with the file name in the message; at start-up that means exit code 2.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from tf_serving.server.errors import ConfigError
from tf_serving.server.protos import BatchingParameters, MonitoringConfig

DEFAULT_PROMETHEUS_PATH = "/monitoring/prometheus/metrics"


@dataclass(frozen=True)
class VersionPolicy:
    """Which on-disk versions should be served (TF Serving's ``ServableVersionPolicy``)."""

    kind: Literal["latest", "all", "specific"] = "latest"
    num_versions: int = 1
    versions: frozenset[int] = frozenset()

    def select(self, on_disk: list[int]) -> set[int]:
        """The aspired versions among ``on_disk``."""
        if self.kind == "all":
            return set(on_disk)
        if self.kind == "specific":
            return set(self.versions & set(on_disk))
        return set(sorted(on_disk)[-self.num_versions :])


@dataclass(frozen=True)
class ModelSpec:
    """One entry of ``model_config_list``."""

    name: str
    base_path: Path
    policy: VersionPolicy = VersionPolicy()
    labels: dict[str, int] = field(default_factory=dict)


def usable_cores(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """The cores this process may run on: its CPU affinity, capped by a cgroup v2 CPU quota
    (``cpu.max``, a container's CPU limit, rounded up), at least one. ``os.cpu_count()``
    sees the host's cores inside a container limited to fewer."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    try:
        quota, period = (cgroup / "cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, -(-int(quota) // int(period)))
    except (OSError, ValueError):
        pass
    return max(1, cores)


@dataclass(frozen=True)
class BatchingConfig:
    """``BatchingParameters`` with TF Serving's defaults filled in."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = field(default_factory=usable_cores)
    """Unset in the file: one batch thread per usable core (TF Serving's own default)."""
    allowed_batch_sizes: tuple[int, ...] = ()


@dataclass(frozen=True)
class MonitoringSettings:
    """Whether and where Prometheus metrics are exported on the REST port."""

    prometheus_enabled: bool = False
    prometheus_path: str = DEFAULT_PROMETHEUS_PATH


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise ConfigError(f"Cannot read {what} {path}: {exc.strerror or exc}") from exc


def _parse_text(text: str, message: Any, path: Path, what: str) -> Any:
    try:
        return text_format.Parse(text, message)
    except text_format.ParseError as exc:
        raise ConfigError(f"Invalid {what} {path}: {exc}") from exc


def parse_model_server_config(
    text: str, base_dir: Path, source: str = "<config>"
) -> list[ModelSpec]:
    """Parse a text-format ``ModelServerConfig``; relative base paths resolve in ``base_dir``."""
    proto = _parse_text(
        text, model_server_config_pb2.ModelServerConfig(), Path(source), "model config file"
    )
    return model_specs_from_proto(proto, base_dir, source)


def model_specs_from_proto(proto: Any, base_dir: Path, source: str = "<config>") -> list[ModelSpec]:
    """Validate a ``ModelServerConfig`` message (from a file or a reload request)."""
    if proto.WhichOneof("config") == "custom_model_config":
        raise ConfigError(f"{source}: custom_model_config is not supported")
    specs: list[ModelSpec] = []
    seen: set[str] = set()
    for entry in proto.model_config_list.config:
        if not entry.name:
            raise ConfigError(f"{source}: a model config has an empty name")
        if entry.name in seen:
            raise ConfigError(f"{source}: duplicate model name {entry.name!r}")
        seen.add(entry.name)
        if not entry.base_path:
            raise ConfigError(f"{source}: model {entry.name!r} has no base_path")
        if entry.model_platform not in ("", "tensorflow"):
            raise ConfigError(
                f"{source}: model {entry.name!r} has unsupported platform "
                f"{entry.model_platform!r} (only 'tensorflow')"
            )
        base = Path(entry.base_path)
        specs.append(
            ModelSpec(
                name=entry.name,
                base_path=base if base.is_absolute() else (base_dir / base).resolve(),
                policy=_policy(entry.model_version_policy, entry.name, source),
                labels={k: int(v) for k, v in entry.version_labels.items()},
            )
        )
    return specs


def _policy(proto: Any, name: str, source: str) -> VersionPolicy:
    which = proto.WhichOneof("policy_choice")
    if which == "all":
        return VersionPolicy(kind="all")
    if which == "specific":
        if not proto.specific.versions:
            raise ConfigError(f"{source}: model {name!r} has an empty specific version list")
        return VersionPolicy(kind="specific", versions=frozenset(proto.specific.versions))
    num = proto.latest.num_versions if which == "latest" else 1
    if num < 0:
        raise ConfigError(f"{source}: model {name!r} latest.num_versions must be >= 0")
    return VersionPolicy(kind="latest", num_versions=num or 1)


def load_model_config_file(path: Path) -> list[ModelSpec]:
    """Read ``--model_config_file``."""
    return parse_model_server_config(_read(path, "model config file"), path.parent, str(path))


def load_batching_parameters(path: Path | None) -> BatchingConfig:
    """Read ``--batching_parameters_file`` (TF Serving defaults when ``None``)."""
    if path is None:
        return BatchingConfig()
    proto = _parse_text(
        _read(path, "batching parameters file"), BatchingParameters(), path, "batching file"
    )
    defaults = BatchingConfig()

    def value(name: str, default: int) -> int:
        return int(getattr(proto, name).value) if proto.HasField(name) else default

    config = BatchingConfig(
        max_batch_size=value("max_batch_size", defaults.max_batch_size),
        batch_timeout_micros=value("batch_timeout_micros", defaults.batch_timeout_micros),
        max_enqueued_batches=value("max_enqueued_batches", defaults.max_enqueued_batches),
        num_batch_threads=value("num_batch_threads", defaults.num_batch_threads),
        allowed_batch_sizes=tuple(int(s) for s in proto.allowed_batch_sizes),
    )
    if config.max_batch_size < 1 or config.num_batch_threads < 1:
        raise ConfigError(f"{path}: max_batch_size and num_batch_threads must be >= 1")
    if config.max_enqueued_batches < 1 or config.batch_timeout_micros < 0:
        raise ConfigError(f"{path}: max_enqueued_batches must be >= 1, timeout >= 0")
    sizes = config.allowed_batch_sizes
    if sizes:
        # Same rule as TF Serving: increasing, ending at max_batch_size.
        if any(b <= a for a, b in itertools.pairwise(sizes)) or sizes[0] < 1:
            raise ConfigError(f"{path}: allowed_batch_sizes must be positive and increasing")
        if sizes[-1] != config.max_batch_size:
            raise ConfigError(
                f"{path}: the last entry of allowed_batch_sizes must equal max_batch_size"
            )
    return config


def load_monitoring_config(path: Path | None) -> MonitoringSettings:
    """Read ``--monitoring_config_file`` (metrics off when ``None``, like TF Serving)."""
    if path is None:
        return MonitoringSettings()
    proto = _parse_text(
        _read(path, "monitoring config file"), MonitoringConfig(), path, "monitoring file"
    )
    prom = proto.prometheus_config
    metrics_path = prom.path or DEFAULT_PROMETHEUS_PATH
    if not metrics_path.startswith("/"):
        raise ConfigError(f"{path}: prometheus_config.path must start with '/'")
    return MonitoringSettings(prometheus_enabled=prom.enable, prometheus_path=metrics_path)
