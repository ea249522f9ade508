"""Every server config, derived from the manifest and where the stack runs.

Pure functions of (manifest, placement) (`tandem.placement`: local, compose, Kubernetes,
KServe): the same input gives byte-identical files, so the configs can be diffed, reviewed
and golden-tested (tests/golden/). Nothing edits their output afterwards. A plain build
directory `out` where a placement is taken means the local stack's (`placement.local`).
`write_configs` writes them all:

    models.config             TF Serving model_config_list (base paths, version policy, labels)
    batching_parameters.txt   TF Serving BatchingParameters (text proto)
    monitoring.config         TF Serving MonitoringConfig (Prometheus endpoint)
    config.properties         TorchServe (addresses, model store, per-model workers/batching)
    log4j2.xml                TorchServe logging: files only, warnings on the console
    routes.json               the gateway's route table (model → backend, versions, specs)
    prometheus.yml            Prometheus scrape config (tandem.monitoring)
    tandem.rules.yml          Prometheus alert rules (tandem.monitoring)
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.route_table import (
    Admission,
    Agreement,
    BackendRoute,
    ModelRoute,
    RouteTable,
    TwinRoute,
    TwinVariant,
)
from tandem.backend_kinds import KINDS, TFSERVING, TORCHSERVE, gpu_count, kind_for
from tandem.manifest import Manifest, ModelSpec, TwinSpec
from tandem.monitoring.prometheus import RULES_FILE, alert_rules, scrape_config
from tandem.placement import Placement, as_placement


def _q(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid text-proto string literal


_tf_models = TFSERVING.models
_torch_models = TORCHSERVE.models


def tf_models_config(manifest: Manifest, place: Placement | Path) -> str:
    layout = as_placement(manifest, place).layout
    lines = ["model_config_list {"]
    for m in _tf_models(manifest):
        base = layout.tensorflow_base(m.name)
        lines += ["  config {", f"    name: {_q(m.name)}", f"    base_path: {_q(str(base))}"]
        lines.append('    model_platform: "tensorflow"')
        p = m.version_policy
        if p.policy == "latest":
            policy = f"latest {{ num_versions: {p.num_versions} }}"
        elif p.policy == "all":
            policy = "all {}"
        else:
            policy = "specific { " + " ".join(f"versions: {v}" for v in sorted(p.versions)) + " }"
        lines.append(f"    model_version_policy {{ {policy} }}")
        for label, version in sorted(m.labels.items()):
            lines.append(f"    version_labels {{ key: {_q(label)} value: {version} }}")
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def tf_batching_parameters(manifest: Manifest) -> str:
    """TF Serving's batcher is process-wide: the largest batch and delay any model asks for."""
    batched = [m.batching for m in _tf_models(manifest) if m.batching.enabled]
    if not batched:
        return "max_batch_size { value: 1 }\n"
    max_batch = max(b.max_batch_size for b in batched)
    delay_us = round(max(b.max_delay_ms for b in batched) * 1000)
    enqueued = max(b.max_enqueued_batches for b in batched)
    lines = [
        f"max_batch_size {{ value: {max_batch} }}",
        f"batch_timeout_micros {{ value: {delay_us} }}",
        f"max_enqueued_batches {{ value: {enqueued} }}",
        # num_batch_threads is left to the server: one per core of the machine it runs on.
    ]
    allowed = {tuple(b.allowed_batch_sizes) for b in batched if b.allowed_batch_sizes}
    if len(allowed) == 1:
        sizes = next(iter(allowed))
        if sizes[-1] == max_batch:
            lines += [f"allowed_batch_sizes: {s}" for s in sizes]
    lines.append("pad_variable_length_inputs: false")
    return "\n".join(lines) + "\n"


def tf_monitoring_config() -> str:
    return f"prometheus_config {{\n  enable: true\n  path: {_q(TFSERVING.metrics_path)}\n}}\n"


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
    workers = sum(m.workers * len(m.served_versions) for m in _torch_models(manifest))
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


def backend_routes(place: Placement) -> dict[str, BackendRoute]:
    """Each backend kind as the gateway reaches it in `place`."""
    backends: dict[str, BackendRoute] = {}
    for kind in KINDS:
        server = place.server(kind.id)
        extra: dict[str, Any] = {}
        if kind.tokens:
            extra["token_file"] = place.token_file
        backends[kind.id] = BackendRoute(
            kind=kind.id, grpc_target=server.target("grpc"), rest_url=server.url("http"), **extra
        )
    return backends


def model_routes(manifest: Manifest) -> dict[str, ModelRoute]:
    """Each model's route (its backend: the kind serving its framework)."""
    models = {}
    for m in manifest.models:
        kind = kind_for(m.framework)
        in_flight, queue = m.admission_bounds
        models[m.name] = ModelRoute(
            framework=m.framework,
            backend=kind.id,
            upstream_name=m.name,
            versions=tuple(m.served_versions),
            default_version=max(m.served_versions),
            labels=dict(sorted(m.labels.items())),
            signature_name=m.signature if kind.signatures else None,
            check_shapes=kind.checks_shapes,
            inputs=tuple(t.to_wire() for t in m.inputs),
            outputs=tuple(t.to_wire() for t in m.outputs),
            max_batch_size=m.batching.max_batch_size,
            timeout_ms=m.timeout_ms,
            admission=Admission(max_in_flight=in_flight, max_queue=queue),
        )
    return models


def routes(manifest: Manifest, place: Placement | Path) -> str:
    """The gateway's route file, built from its one definition (``gateway.route_table``)."""
    backends = backend_routes(as_placement(manifest, place))
    models = model_routes(manifest)
    table = RouteTable(schema_version=1, backends=backends, models=models)
    if manifest.twins:  # set only when declared: a manifest without twins keeps its file
        table = RouteTable(
            schema_version=1,
            backends=backends,
            models=models,
            twins={t.name: twin_route(t) for t in manifest.twins},
        )
    return route_file(table)


def route_file(table: RouteTable) -> str:
    """A route table as its file: only the fields set (the golden files pin them)."""
    doc = table.model_dump(mode="json", exclude_unset=True)
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def twin_route(twin: TwinSpec) -> TwinRoute:
    """A manifest twin as the route file states it (weights normalised to shares)."""
    weights = twin.weights
    a = twin.agreement
    return TwinRoute(
        variants={
            v.model: TwinVariant(
                weight=round(weights[v.model], 6),
                inputs=dict(sorted(v.inputs.items())),
                outputs=dict(sorted(v.outputs.items())),
            )
            for v in twin.variants
        },
        default=twin.default_variant,
        shadow=twin.shadow,
        agreement=Agreement(
            outputs=tuple(a.outputs), atol=a.atol, top1=tuple(a.top1), objective=a.objective
        ),
    )


def render_all(manifest: Manifest, place: Placement | Path) -> dict[str, str]:
    """File name → contents, for every generated config of `place`."""
    place = as_placement(manifest, place)
    return {
        "models.config": tf_models_config(manifest, place),
        "batching_parameters.txt": tf_batching_parameters(manifest),
        "monitoring.config": tf_monitoring_config(),
        "config.properties": torchserve_properties(_torch_models(manifest), place),
        "log4j2.xml": torchserve_log4j(place),
        "routes.json": routes(manifest, place),
        "prometheus.yml": scrape_config(manifest, place),
        RULES_FILE: alert_rules(manifest),
    }


def write_configs(
    manifest: Manifest, dest: Path, out: Path, *, only: Collection[str] | None = None
) -> list[Path]:
    """Write every config (or the file names in `only`) into `dest`; paths inside them
    point under `out`.

    `manifest` must be resolved (`tandem.export.resolve_manifest`): the routes carry every
    model's inputs and outputs. Each file is replaced atomically.
    """
    missing = [m.name for m in manifest.models if not m.has_io]
    if missing:
        raise ValueError(f"write_configs needs resolved inputs/outputs; missing for {missing}")
    manifest.check_twins()  # file sources' tensors are known only now
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_all(manifest, out).items():
        if only is not None and name not in only:
            continue
        path = dest / name
        tmp = path.with_name(f".{name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        written.append(path)
    return written
