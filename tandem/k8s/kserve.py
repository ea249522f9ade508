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

from pathlib import Path
from typing import Any

from gateway.route_table import BackendRoute, ModelRoute, RouteTable
from tandem import configgen, placement
from tandem.backend_kinds import TFSERVING, TORCHSERVE, kind_for
from tandem.k8s.render import (
    NAMESPACE,
    _dump,
    gateway_resources,
    network_policies,
    shared_resources,
)
from tandem.layout import Layout
from tandem.manifest import Manifest, ModelSpec


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
    kind = kind_for(m.framework)
    model: dict[str, Any] = {
        "modelFormat": {"name": m.framework},
        "runtime": kind.kserve_runtime,
        "storageUri": f"{repository}/{kind.kserve_storage}/{m.name}",
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
    """config.properties for one model on KServe's TorchServe runtime: configgen's, for the
    KServe placement (its model store is the storage initializer's /mnt/models/model-store)."""
    return configgen.torchserve_properties([m], placement.kserve())


def kserve_routes(manifest: Manifest) -> str:
    """The gateway's route file for the TensorFlow InferenceServices (REST: port 80 of each
    predictor Service)."""
    routes = configgen.model_routes(manifest)
    backends: dict[str, BackendRoute] = {}
    models: dict[str, ModelRoute] = {}
    for m in TFSERVING.models(manifest):
        name = f"kserve-{isvc_name(m)}"
        backends[name] = BackendRoute(
            kind=TFSERVING.id,
            grpc_target=None,
            rest_url=f"http://{isvc_name(m)}-predictor.{NAMESPACE}.svc.cluster.local",
        )
        models[m.name] = routes[m.name].model_copy(update={"backend": name})
    return configgen.route_file(RouteTable(schema_version=1, backends=backends, models=models))


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

    out.mkdir(parents=True, exist_ok=True)
    for m in TORCHSERVE.models(manifest):
        root = out / "kserve-repository" / "kserve" / m.name
        (root / "config").mkdir(parents=True, exist_ok=True)
        (root / "config" / "config.properties").write_text(
            torchserve_properties(m), encoding="utf-8"
        )
        for v in m.served_versions:
            mar = Layout(build).mar(m.name, v)
            if mar.exists():
                (root / "model-store").mkdir(exist_ok=True)
                shutil.copy2(mar, root / "model-store" / mar.name)
    path = out / "kserve.yaml"
    path.write_text(render_kserve(manifest, repository), encoding="utf-8")
    return path
