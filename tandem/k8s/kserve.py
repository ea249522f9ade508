"""`tandem k8s render --kserve`: for clusters that already run KServe.

One `InferenceService` (serving.kserve.io/v1beta1) per model on KServe's stock runtimes
(`kserve-tensorflow-serving`, `kserve-torchserve`), with storageUri, resources and GPU limits
from the manifest, and the gateway in front of the TensorFlow ones. KServe's TorchServe runtime
answers KServe's own v1/v2 protocol through its wrapper, not TorchServe's `/predictions`, which
is what the gateway's TorchServe backend speaks; those models are reached at their
InferenceService URL directly.

Layout expected under the model repository URI:
    tensorflow/<name>/<version>/               as `tandem export` writes it
    kserve/<name>/config/config.properties     written here under <out>/kserve-repository/
    kserve/<name>/model-store/<name>.mar       the exported .mar, copied there
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tandem.backend_kinds import TFSERVING, TORCHSERVE
from tandem.configgen import torchserve_batching
from tandem.k8s.render import (
    NAMESPACE,
    _dump,
    gateway_resources,
    network_policies,
    shared_resources,
)
from tandem.manifest import Manifest, ModelSpec

TF_RUNTIME = "kserve-tensorflow-serving"
TORCH_RUNTIME = "kserve-torchserve"


def isvc_name(model: ModelSpec) -> str:
    """KServe names are DNS-1035 labels: lowercase, '-' for '_'."""
    return model.name.lower().replace("_", "-")


def _resources(m: ModelSpec) -> dict[str, Any]:
    req: dict[str, Any] = {"cpu": "1", "memory": "2Gi"}
    lim: dict[str, Any] = {"cpu": "2", "memory": "4Gi"}
    if m.device.kind == "gpu":
        req["nvidia.com/gpu"] = lim["nvidia.com/gpu"] = m.device.count
    return {"requests": req, "limits": lim}


def inference_service(m: ModelSpec, repository: str) -> dict[str, Any]:
    tf = m.framework == "tensorflow"
    storage = f"{repository}/tensorflow/{m.name}" if tf else f"{repository}/kserve/{m.name}"
    model: dict[str, Any] = {
        "modelFormat": {"name": "tensorflow" if tf else "pytorch"},
        "runtime": TF_RUNTIME if tf else TORCH_RUNTIME,
        "storageUri": storage,
        "protocolVersion": "v1",
        "resources": _resources(m),
    }
    predictor: dict[str, Any] = {
        "minReplicas": max(1, m.replicas),
        "maxReplicas": max(2, m.replicas),
        "model": model,
    }
    if m.device.kind == "gpu":
        predictor["tolerations"] = [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        ]
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": isvc_name(m),
            "namespace": NAMESPACE,
            "labels": {"app.kubernetes.io/part-of": "tandem", "tandem.io/model": m.name},
        },
        "spec": {"predictor": predictor},
    }


def torchserve_properties(m: ModelSpec) -> str:
    """config.properties for one model on KServe's TorchServe runtime (its model store is
    the storage initializer's /mnt/models/model-store)."""
    from tandem.layout import mar_filename

    batching = torchserve_batching(m)
    versions = {
        str(v): {
            "defaultVersion": v == max(m.served_versions),
            "marName": mar_filename(m.name, v),
            "minWorkers": m.workers,
            "maxWorkers": m.max_workers_effective,
            "batchSize": batching.batch_size,
            "maxBatchDelay": batching.max_batch_delay_ms,
            "responseTimeout": batching.response_timeout_s,
        }
        for v in m.served_versions
    }
    snapshot = {"name": "startup.cfg", "modelCount": 1, "models": {m.name: versions}}
    props = {
        # KServe's TorchServe image puts its own protocol front end on the predictor port
        # (8080) and forwards to TorchServe on 8085; metrics on 8082 as the runtime announces.
        "inference_address": "http://0.0.0.0:8085",
        "management_address": "http://127.0.0.1:8081",
        "metrics_address": "http://0.0.0.0:8082",
        "grpc_inference_port": "7070",
        "grpc_management_port": "7071",
        # That front end sends no TorchServe token (0.12 enforces them by default).
        "disable_token_authorization": "true",
        "enable_model_api": "false",
        "enable_envvars_config": "true",
        "install_py_dep_per_model": "false",
        "metrics_mode": "prometheus",
        "model_store": "/mnt/models/model-store",
        "model_snapshot": json.dumps(snapshot, sort_keys=True, separators=(",", ":")),
        "number_of_gpu": str(m.device.count),
    }
    return "".join(f"{k}={v}\n" for k, v in props.items())


def kserve_routes(manifest: Manifest) -> str:
    """The gateway's route file for the TensorFlow InferenceServices (REST: port 80 of each
    predictor Service)."""
    from tandem.configgen import routes

    doc = json.loads(routes(manifest, Path("/models")))
    backends: dict[str, Any] = {}
    models: dict[str, Any] = {}
    for m in TFSERVING.models(manifest):
        name = f"kserve-{isvc_name(m)}"
        backends[name] = {
            "kind": TFSERVING.id,
            "grpc_target": None,
            "rest_url": f"http://{isvc_name(m)}-predictor.{NAMESPACE}.svc.cluster.local",
        }
        models[m.name] = {**doc["models"][m.name], "backend": name}
    out = {"schema_version": 1, "backends": backends, "models": models}
    return json.dumps(out, indent=2, sort_keys=True) + "\n"


def render_kserve(manifest: Manifest, repository: str) -> str:
    """The KServe YAML: namespace, InferenceServices, the gateway and its route ConfigMap."""
    docs: list[dict[str, Any]] = []
    for doc in shared_resources():
        if doc["kind"] != "Namespace":
            doc["metadata"]["namespace"] = NAMESPACE
        docs.append(doc)
    docs += [inference_service(m, repository) for m in manifest.models]
    routes_cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "gateway-routes", "namespace": NAMESPACE},
        "data": {"routes.json": kserve_routes(manifest)},
    }
    docs.append(routes_cm)
    policies = [p for p in network_policies(manifest) if p["metadata"]["name"] == "gateway-ingress"]
    for doc in [*gateway_resources(manifest), *policies]:
        doc["metadata"]["namespace"] = NAMESPACE
        docs.append(doc)
    return _dump(*docs)


def write_kserve(manifest: Manifest, out: Path, repository: str, build: Path) -> Path:
    """Write `<out>/kserve.yaml` and, under `<out>/kserve-repository/kserve/<name>/`, the
    layout KServe's TorchServe runtime reads (`config/config.properties`, and the exported
    `.mar` files from `build` where they exist): push that directory to `<repository>/kserve/`."""
    import shutil

    from tandem.layout import mar_filename

    out.mkdir(parents=True, exist_ok=True)
    for m in TORCHSERVE.models(manifest):
        root = out / "kserve-repository" / "kserve" / m.name
        (root / "config").mkdir(parents=True, exist_ok=True)
        (root / "config" / "config.properties").write_text(
            torchserve_properties(m), encoding="utf-8"
        )
        for v in m.served_versions:
            mar = build / "torchserve" / "model-store" / mar_filename(m.name, v)
            if mar.exists():
                (root / "model-store").mkdir(exist_ok=True)
                shutil.copy2(mar, root / "model-store" / mar.name)
    path = out / "kserve.yaml"
    path.write_text(render_kserve(manifest, repository), encoding="utf-8")
    return path
