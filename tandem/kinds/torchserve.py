"""TorchServe as a backend kind: its data and its config generators.

config.properties   addresses, model store, per-model workers/batching
log4j2.xml          logging: files only, warnings on the console
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tandem.kinds import BackendKind, gpu_count
from tandem.layout import Layout
from tandem.manifest import Manifest, ModelSpec

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tandem.placement import Placement


@dataclass(frozen=True)
class TorchServeBatching:
    """A model's TorchServe batching and timeout, as config.properties and the management
    API (`tandem rollout`) both state them."""

    batch_size: int
    max_batch_delay_ms: int
    response_timeout_s: int


def torchserve_batching(m: ModelSpec) -> TorchServeBatching:
    on = m.batching.enabled
    return TorchServeBatching(
        batch_size=m.batching.max_batch_size if on else 1,
        max_batch_delay_ms=round(m.batching.max_delay_ms) if on else 0,
        response_timeout_s=max(1, -(-m.timeout_ms // 1000)),  # whole seconds, rounded up
    )


def torch_threads_per_worker(manifest: Manifest, cores: int) -> int:
    """Intra-op threads for each TorchServe worker (``TANDEM_TORCH_THREADS``): the machine's
    ``cores`` shared among the minimum workers of every served PyTorch version, at least one.
    Each worker otherwise starts one thread per core, and N workers on C cores run N x C
    threads that fight over the caches."""
    workers = sum(m.workers * len(m.served_versions) for m in TORCHSERVE.models(manifest))
    return max(1, cores // max(1, workers))


def torchserve_properties(models: Sequence[ModelSpec], place: Placement) -> str:
    """TorchServe's config.properties serving `models` (a manifest's PyTorch models; one
    model for a KServe InferenceService) where `place` says."""
    ts = place.torchserve
    server = place.server(TORCHSERVE.id)
    ports = server.ports
    layout = place.layout
    versions_of: dict[str, Any] = {}
    load: list[str] = []
    for m in models:
        versions: dict[str, Any] = {}
        batching = torchserve_batching(m)
        for v in m.served_versions:
            mar = layout.mar(m.name, v).name
            load.append(mar)
            versions[str(v)] = {
                "defaultVersion": v == max(m.served_versions),
                "marName": mar,
                "minWorkers": m.workers,
                "maxWorkers": m.max_workers_effective,
                "batchSize": batching.batch_size,
                "maxBatchDelay": batching.max_batch_delay_ms,
                "responseTimeout": batching.response_timeout_s,
            }
        versions_of[m.name] = versions
    ours = ts.launcher == "tandem"  # a process this project starts (see TorchServeSetup)
    props: dict[str, str | None] = {
        "inference_address": f"http://{server.bind}:{ports['http']}",
        # The management API can load arbitrary code: loopback unless the placement says.
        "management_address": f"http://{ts.management_bind}:{ports['management']}",
        "metrics_address": f"http://{server.bind}:{ports['metrics']}",
        "grpc_inference_address": server.bind if ours else None,
        "grpc_inference_port": str(ports["grpc"]),
        "grpc_management_address": ts.grpc_management_bind if ours else None,
        "grpc_management_port": str(ports["grpc-management"]),
        "model_store": str(ts.model_store),
        "load_models": ",".join(load) if ours else None,
        "models": _compact(versions_of) if ours else None,
        "model_snapshot": None
        if ours
        else _compact({"name": "startup.cfg", "modelCount": len(models), "models": versions_of}),
        "number_of_gpu": str(max((gpu_count(m, place.device) for m in models), default=0)),
        "metrics_mode": "prometheus",
        "disable_token_authorization": "false" if place.token_auth else "true",
        "token_expiration_min": None
        if place.token_expiration_min is None
        else str(place.token_expiration_min),
        # Registering a new version is how `tandem rollout` goes live without downtime; the
        # management API that allows it is bound as above and needs a token where auth is on.
        "enable_model_api": "true" if ours else "false",
        # KServe's image configures TorchServe through the environment.
        "enable_envvars_config": None if ours else "true",
        "install_py_dep_per_model": "false",
    }
    if ours:
        # TorchServe queues up to job_queue_size requests per model (503 beyond): the
        # gateway's own bounds, so a direct caller is not queued without end either.
        queue = max((sum(m.admission_bounds) for m in models), default=100)
        props |= {
            "default_workers_per_model": "1",
            "job_queue_size": str(queue),
            "async_logging": "true",
            # java.io.tmpdir holds the worker sockets: per stack, so two never collide.
            "vmargs": f"-Xmx1g -XX:+ExitOnOutOfMemoryError "
            f"-Djava.io.tmpdir={ts.tmp_dir} "
            f"-Dlog4j.configurationFile=file://{ts.log4j_file}",
        }
    return "".join(f"{k}={v}\n" for k, v in props.items() if v is not None)


def _compact(doc: object) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


def torchserve_log4j(place: Placement) -> str:
    logs = place.torchserve.logs_dir
    files = "".join(
        f"""    <RollingFile name="{name}" fileName="{logs}/{name}.log"
                 filePattern="{logs}/{name}.%i.log.gz">
      <PatternLayout pattern="{pattern}"/>
      <Policies><SizeBasedTriggeringPolicy size="50 MB"/></Policies>
      <DefaultRolloverStrategy max="3"/>
    </RollingFile>
"""
        for name, pattern in (
            ("ts_log", "%d{ISO8601} [%-5p] %t %c - %m%n"),
            ("access_log", "%d{ISO8601} - %m%n"),
            ("model_log", "%d{ISO8601} [%-5p] %c - %m%n"),
        )
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by tandem: TorchServe logs go to files; only warnings reach the console. -->
<Configuration>
  <Appenders>
    <Console name="STDOUT" target="SYSTEM_OUT">
      <PatternLayout pattern="%d{{ISO8601}} [%-5p] %t %c - %m%n"/>
      <ThresholdFilter level="WARN"/>
    </Console>
{files}  </Appenders>
  <Loggers>
    <Logger name="ACCESS_LOG" level="info"><AppenderRef ref="access_log"/></Logger>
    <Logger name="MODEL_LOG" level="info"><AppenderRef ref="model_log"/></Logger>
    <Logger name="MODEL_METRICS" level="error"/>
    <Logger name="TS_METRICS" level="error"/>
    <Logger name="org.pytorch" level="info"/>
    <Root level="info">
      <AppenderRef ref="STDOUT"/>
      <AppenderRef ref="ts_log"/>
    </Root>
  </Loggers>
</Configuration>
"""


def configs(manifest: Manifest, place: Placement) -> dict[str, str]:
    """Its config files for `place` (`BackendKind.render_configs`)."""
    return {
        "config.properties": torchserve_properties(TORCHSERVE.models(manifest), place),
        "log4j2.xml": torchserve_log4j(place),
    }


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
    render_configs=configs,
    probe="torchserve_ready",
    probe_command=("python", "{config}/ready.py"),
    readiness="every served version of every model has its minimum workers READY",
    tokens=True,
    metrics_port_name="metrics",
)
