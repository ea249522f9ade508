"""TF Serving as a backend kind: everything about it that is not the gateway's adapter or the
export of TensorFlow models, in one place (registered in `tandem.backend_kinds`).

- its config generators, pure functions of (manifest, placement):
    models.config             model_config_list (base paths, version policy, labels)
    batching_parameters.txt   BatchingParameters (text proto)
    monitoring.config         MonitoringConfig (Prometheus endpoint)
- `TFServing`: its process in the local stack (`tandem up`);
- `kubernetes`: its Deployment, Service and PodDisruptionBudget (`tandem k8s render`);
- `TFSERVING`: its data (ports, artifacts, readiness, KServe runtime, route flags) and the
  hooks above.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from typing import TYPE_CHECKING, Any

import httpx

from tandem.k8s import objects as k8s
from tandem.kinds import BackendKind
from tandem.layout import Layout
from tandem.manifest import Manifest, ModelSpec
from tandem.stack.service import HTTP_TIMEOUT, PlacedService

if TYPE_CHECKING:
    from tandem.placement import Placement


def _q(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid text-proto string literal


def tf_models_config(manifest: Manifest, place: Placement) -> str:
    """models.config: every TensorFlow model's base path under `place`'s model root, its
    version policy and labels."""
    layout = place.layout
    lines = ["model_config_list {"]
    for m in TFSERVING.models(manifest):
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
    batched = [m.batching for m in TFSERVING.models(manifest) if m.batching.enabled]
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
    """monitoring.config: the Prometheus endpoint at `metrics_path`."""
    return f"prometheus_config {{\n  enable: true\n  path: {_q(TFSERVING.metrics_path)}\n}}\n"


def configs(manifest: Manifest, place: Placement) -> dict[str, str]:
    """Its config files for `place` (`BackendKind.render_configs`)."""
    return {
        "models.config": tf_models_config(manifest, place),
        "batching_parameters.txt": tf_batching_parameters(manifest),
        "monitoring.config": tf_monitoring_config(),
    }


# --------------------------------------------------------------------------- local stack


class TFServing(PlacedService):
    """TF Serving as a local process (`BackendKind.local_service`): the official binary when
    `tensorflow_model_server` is on PATH, else the compatible server in `tf_serving`; ready
    when every served version of every model is AVAILABLE in the REST status API."""

    name = "tfserving"

    def __init__(
        self, manifest: Manifest, layout: Layout, place: Placement, *, insecure: bool = False
    ) -> None:
        """`insecure` is the stack's development switch; TF Serving has no auth to turn off."""
        del insecure
        super().__init__(manifest, layout, place)
        self.server = manifest.data.servers.tfserving
        self.official = shutil.which("tensorflow_model_server")

    @property
    def flavour(self) -> str:
        return "TensorFlow Serving" if self.official else "Tandem's TF-Serving-compatible server"

    def command(self) -> list[str]:
        c = self.layout.config
        batching = any(m.batching.enabled for m in TFSERVING.models(self.manifest))
        flags = [
            f"--port={self.server.grpc_port}",
            f"--rest_api_port={self.server.rest_port}",
            f"--model_config_file={c / 'models.config'}",
            f"--monitoring_config_file={c / 'monitoring.config'}",
            "--file_system_poll_wait_seconds=1",
        ]
        if batching:
            flags += [
                "--enable_batching=true",
                f"--batching_parameters_file={c / 'batching_parameters.txt'}",
            ]
        if self.official:
            return [self.official, *flags]
        return [
            sys.executable,
            "-m",
            "tf_serving.server.main",
            f"--host={self.server.host}",
            *flags,
        ]

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        gpus = TFSERVING.gpus(self.manifest)
        env.setdefault("CUDA_VISIBLE_DEVICES", "0" if gpus else "-1")
        return env

    def is_ready(self) -> bool:
        base = f"http://127.0.0.1:{self.server.rest_port}"
        with httpx.Client(timeout=HTTP_TIMEOUT) as client:
            for m in TFSERVING.models(self.manifest):
                r = client.get(f"{base}/v1/models/{m.name}")
                if r.status_code != 200:
                    return False
                states = {
                    int(s["version"]): s["state"] for s in r.json().get("model_version_status", [])
                }
                if any(states.get(v) != "AVAILABLE" for v in m.served_versions):
                    return False
        return True

    def endpoints(self) -> tuple[str, str] | None:
        s = self.server
        return (self.flavour, f"REST http://127.0.0.1:{s.rest_port}  gRPC 127.0.0.1:{s.grpc_port}")

    def direct_curl(self, model: ModelSpec, body: str) -> str:
        port = self.place.server(self.name).ports["http"]
        url = f"http://127.0.0.1:{port}{TFSERVING.predict_path.format(name=model.name)}"
        return f"curl -s -m 10 -X POST {url} -d @{body}"


# --------------------------------------------------------------------------- Kubernetes


def kubernetes(manifest: Manifest) -> list[dict[str, Any]]:
    """Its Deployment (with the model-fetch initContainer), Service and PodDisruptionBudget
    in the kustomize base (`BackendKind.k8s_resources`); none without models."""
    models = TFSERVING.models(manifest)
    if not models:
        return []
    # The image's healthcheck: every model of models.config AVAILABLE, none still loading
    # (also after a rollout, when the first model's status alone would still answer 200).
    container = k8s.backend_container(
        TFSERVING,
        models,
        resources=k8s.resources("1", "1Gi", "2", "4Gi"),
        liveness={"tcpSocket": {"port": "grpc"}},
        mounts=[
            {
                "name": "models",
                "mountPath": str(k8s.MODEL_ROOT / "tensorflow"),
                "subPath": "tensorflow",
                "readOnly": True,
            },
            {"name": "config", "mountPath": k8s.CONFIG_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    )
    volumes = [
        k8s.models_volume(),
        k8s.config_volume(f"{TFSERVING.component}-config"),
        k8s.store_credentials_volume(),
        k8s.tmp_volume(),
    ]
    return k8s.backend_tier(TFSERVING, models, container, volumes)


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
    kserve_gateway=True,
    signatures=True,
    checks_shapes=False,
    config_files=("models.config", "batching_parameters.txt", "monitoring.config"),
    render_configs=configs,
    local_service=TFServing,
    k8s_resources=kubernetes,
    # Its image has no Python: the rule is deploy/healthchecks/tf_serving.sh there.
    probe_command=("/usr/local/bin/tandem-healthcheck",),
    readiness="every served version of every model is AVAILABLE in the REST status API",
    predict_path="/v1/models/{name}:predict",
    metrics_path="/monitoring/prometheus/metrics",  # as its monitoring.config says
)
