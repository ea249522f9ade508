"""The kustomize tree under `k8s/`, generated from the manifest.

    k8s/base/                     namespace, service account, the three Deployments with their
                                  Services, PodDisruptionBudgets, the gateway's HPA, network
                                  policies; configMapGenerator over base/config/ (so a config
                                  change rolls the pods)
    k8s/components/models-pvc/    the model repository from a read-only PVC instead of the
                                  fetch initContainer
    k8s/overlays/cpu/             dev clusters: one replica each
    k8s/overlays/gpu/             nvidia.com/gpu limits, GPU nodes, tolerations, -gpu images,
                                  rolling updates that never need a spare GPU
    k8s/overlays/gpu-pvc/         gpu + models-pvc

Cluster layout (the containers' contract): the exported build at `/models`, configs at
`/models/config/`, the ports of `CONTAINER_PORTS`, Services named after the Deployments. The
config files are the same generators as `build/config/` (`tandem.configgen`), run for the
Kubernetes placement (`tandem.placement.kubernetes`): model paths under `/models`, backends
reached by Service name, TorchServe bound to 0.0.0.0 (management stays on 127.0.0.1). The
manifest's `servers:` section describes the local stack and is not used here.

TorchServe runs with token auth off in the cluster: 0.12 generates random, expiring keys per
process and has no way to be given one, so replicas behind one Service cannot share a key
with the gateway. NetworkPolicy lets only gateway pods reach its inference ports; its
management API listens on the pod's loopback and is reached by nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from tandem import __version__, placement
from tandem.backend_kinds import KINDS, TFSERVING, TORCHSERVE, BackendKind, kind_for
from tandem.configgen import render_all
from tandem.errors import K8sError
from tandem.manifest import Manifest, ModelSpec
from tandem.monitoring.k8s import component_files as monitoring_component

NAMESPACE = "tandem"
TAG = __version__
GPU_TAG = f"{TAG}-gpu"
IMAGES = {
    "gateway": "tandem/gateway",
    **{kind.component: kind.image for kind in KINDS},
    "model-fetch": "tandem/model-fetch",
}
MODEL_ROOT = placement.CONTAINER_ROOT
CONFIG_DIR = str(placement.CONTAINER_CONFIG)
DEFAULT_MODEL_REPOSITORY = "s3://REPLACE-ME/tandem-build"
"""Placeholder: the fetch fails with 'missing in the model repository' until it is set."""
API_KEYS_SECRET = "tandem-gateway-api-keys"
STORE_CREDENTIALS_SECRET = "tandem-model-store-credentials"
STORE_CREDENTIALS_DIR = "/var/run/secrets/model-store"
USER_ID = 10001
DRAIN_S = 10
"""preStop sleep: time for the endpoint removal to reach every kube-proxy and gateway."""

BACKEND_COMPONENTS: dict[str, str] = {kind.framework: kind.component for kind in KINDS}
"""The component serving each framework: its Deployment, Service, image and config names."""

CONTAINER_PORTS: dict[str, dict[str, int]] = {
    "gateway": dict(placement.GATEWAY_PORTS),
    **{kind.component: kind.container_ports for kind in KINDS},
}
"""Ports each component's container exposes (its Service's ports)."""
TORCHSERVE_MANAGEMENT_PORT = TORCHSERVE.ports["management"]

Overlay = Literal["cpu", "gpu"]
OVERLAYS: tuple[str, ...] = ("cpu", "gpu", "gpu-pvc")


# ---------------------------------------------------------------------------- config files


def gpu_count(manifest: Manifest, kind: BackendKind) -> int:
    """GPUs one backend pod gets in the gpu overlay: the most any of its models asks for, at
    least one (models share the server process)."""
    return kind.gpus(manifest, "gpu")


_tf = TFSERVING.models
_torch = TORCHSERVE.models


def _replicas(models: list[ModelSpec]) -> int:
    return max((m.replicas for m in models), default=1)


def model_paths(manifest: Manifest, framework: str) -> list[str]:
    """What the pods of the backend serving `framework` fetch, relative to the model
    repository root."""
    kind = kind_for(framework)
    return [path for m in kind.models(manifest) for path in kind.repository_paths(m)]


def config_files(manifest: Manifest, device: Overlay) -> dict[str, dict[str, str]]:
    """ConfigMap name → file name → contents, for the cluster placement."""
    files = render_all(manifest, placement.kubernetes(manifest, device))
    out: dict[str, dict[str, str]] = {"gateway": {"routes.json": files["routes.json"]}}
    for kind in KINDS:
        if not kind.models(manifest):
            continue
        out[kind.component] = {name: files[name] for name in kind.config_files}
        if kind.probe is not None:
            out[kind.component][PROBE_FILE] = probe_script(kind.probe)
    return out


PROBE_FILE = "ready.py"
"""A kind's readiness probe in its ConfigMap, run by its startup and readiness probes."""


def probe_script(module: str) -> str:
    """The source of the readiness rule `tandem.probes.<module>`, shipped as `ready.py`: the
    pod runs the same rule as the local stack and the image's healthcheck, against the
    server's loopback (an httpGet probe cannot reach 127.0.0.1)."""
    return resources.files("tandem.probes").joinpath(f"{module}.py").read_text("utf-8")


def torchserve_ready_script() -> str:
    """TorchServe's `ready.py` (`tandem.probes.torchserve_ready`)."""
    return probe_script("torchserve_ready")


def _probe(kind: BackendKind) -> dict[str, Any]:
    """The exec action of a kind's startup and readiness probes (`BackendKind.probe_command`)."""
    return {"exec": {"command": [part.format(config=CONFIG_DIR) for part in kind.probe_command]}}


# ---------------------------------------------------------------------------- resources


def _labels(name: str, tier: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "tandem.io/tier": tier}


def _selector(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name}


def _meta(name: str, tier: str) -> dict[str, Any]:
    return {"name": name, "labels": _labels(name, tier)}


def _container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": USER_ID,
        "runAsGroup": USER_ID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _pod_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": USER_ID,
        "runAsGroup": USER_ID,
        "fsGroup": USER_ID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _image(component: str) -> str:
    return f"{IMAGES[component]}:{TAG}"


def _ports(component: str) -> list[dict[str, Any]]:
    return [
        {"name": name, "containerPort": port, "protocol": "TCP"}
        for name, port in CONTAINER_PORTS[component].items()
    ]


def _resources(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> dict[str, Any]:
    return {
        "requests": {"cpu": cpu, "memory": memory, "ephemeral-storage": "256Mi"},
        "limits": {"cpu": cpu_limit, "memory": memory_limit, "ephemeral-storage": "1Gi"},
    }


def _prestop(seconds: int) -> dict[str, Any]:
    # An exec sleep rather than lifecycle.sleep: that action is beta only from 1.30.
    return {"preStop": {"exec": {"command": ["sleep", str(seconds)]}}}


def _spread(name: str) -> list[dict[str, Any]]:
    return [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": _selector(name)},
            "matchLabelKeys": ["pod-template-hash"],
        }
        for key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone")
    ]


def _config_volume(configmap: str) -> dict[str, Any]:
    return {"name": "config", "configMap": {"name": configmap}}


def _deployment(
    name: str,
    tier: str,
    replicas: int | None,
    containers: list[dict[str, Any]],
    volumes: list[dict[str, Any]],
    grace_s: int,
    init: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "serviceAccountName": "tandem",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": _pod_security(),
        "terminationGracePeriodSeconds": grace_s,
        "topologySpreadConstraints": _spread(name),
    }
    if init:
        spec["initContainers"] = init
    spec["containers"] = containers
    spec["volumes"] = volumes
    deployment: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(name, tier),
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": _selector(name)},
            # CPU default: surge one pod, never drop below the replica count.
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": {"metadata": {"labels": _labels(name, tier)}, "spec": spec},
        },
    }
    if replicas is None:
        # Scaled by an HPA: a replica count here would reset its scale on every apply.
        del deployment["spec"]["replicas"]
    return deployment


def _service(name: str, tier: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(name, tier),
        "spec": {
            "type": "ClusterIP",
            "selector": _selector(name),
            "ports": [
                {"name": port_name, "port": port, "targetPort": port_name, "protocol": "TCP"}
                for port_name, port in CONTAINER_PORTS[name].items()
            ],
        },
    }


def _pdb(name: str, tier: str) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(name, tier),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": _selector(name)},
            # A pod that never became ready may be evicted; it serves nothing anyway.
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }


def _fetch_container(paths: list[str]) -> dict[str, Any]:
    return {
        "name": "model-fetch",
        "image": _image("model-fetch"),
        "imagePullPolicy": "Always",
        "args": ["fetch", "$(TANDEM_MODEL_REPOSITORY)", str(MODEL_ROOT), *paths],
        "env": [
            {
                "name": "TANDEM_MODEL_REPOSITORY",
                "valueFrom": {
                    "configMapKeyRef": {
                        "name": "model-repository",
                        "key": "TANDEM_MODEL_REPOSITORY",
                    }
                },
            },
            {"name": "HOME", "value": "/tmp"},
            # Credentials as a file, not env: botocore reads this file when it exists and
            # otherwise falls back to workload identity (IRSA); the Secret is optional.
            {"name": "AWS_SHARED_CREDENTIALS_FILE", "value": f"{STORE_CREDENTIALS_DIR}/aws"},
        ],
        "resources": _resources("100m", "256Mi", "1", "1Gi"),
        "securityContext": _container_security(),
        "volumeMounts": [
            {"name": "models", "mountPath": str(MODEL_ROOT)},
            {"name": "store-credentials", "mountPath": STORE_CREDENTIALS_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }


def _store_credentials_volume() -> dict[str, Any]:
    return {
        "name": "store-credentials",
        "secret": {"secretName": STORE_CREDENTIALS_SECRET, "optional": True, "defaultMode": 0o440},
    }


def _models_volume() -> dict[str, Any]:
    return {"name": "models", "emptyDir": {"sizeLimit": "20Gi"}}


def _tmp_volume(name: str = "tmp") -> dict[str, Any]:
    return {"name": name, "emptyDir": {"sizeLimit": "1Gi"}}


def _drain_s(models: list[ModelSpec]) -> int:
    """preStop: the endpoint update, then the longest request a model may still be running
    (TF Serving ignores SIGTERM, TorchServe has no graceful shutdown)."""
    longest = max((-(-m.timeout_ms // 1000) for m in models), default=0)
    return DRAIN_S + longest


def gateway_resources(manifest: Manifest) -> list[dict[str, Any]]:
    env = {
        "TANDEM_GATEWAY_ENVIRONMENT": "production",
        "TANDEM_GATEWAY_HOST": "0.0.0.0",
        "TANDEM_GATEWAY_PORT": str(CONTAINER_PORTS["gateway"]["http"]),
        "TANDEM_GATEWAY_GRPC_PORT": str(CONTAINER_PORTS["gateway"]["grpc"]),
        "TANDEM_GATEWAY_ROUTES_FILE": f"{CONFIG_DIR}/routes.json",
        "TANDEM_GATEWAY_API_KEYS_FILE": "/var/run/secrets/tandem/api-keys",
    }
    container = {
        "name": "gateway",
        "image": _image("gateway"),
        "imagePullPolicy": "Always",
        "ports": _ports("gateway"),
        "env": [{"name": k, "value": v} for k, v in env.items()],
        "resources": _resources("250m", "256Mi", "1", "512Mi"),
        "securityContext": _container_security(),
        "startupProbe": {
            "httpGet": {"path": "/healthz", "port": "http"},
            "periodSeconds": 2,
            "failureThreshold": 30,
        },
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": "http"},
            "periodSeconds": 5,
            "timeoutSeconds": 3,
            "failureThreshold": 2,
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": "http"},
            "periodSeconds": 10,
            "timeoutSeconds": 3,
            "failureThreshold": 3,
        },
        "lifecycle": _prestop(DRAIN_S),
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "api-keys", "mountPath": "/var/run/secrets/tandem", "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    volumes = [
        _config_volume("gateway-routes"),
        {
            "name": "api-keys",
            "secret": {
                "secretName": API_KEYS_SECRET,
                "items": [{"key": "api-keys", "path": "api-keys"}],
                "defaultMode": 0o440,
            },
        },
        _tmp_volume(),
    ]
    longest = max(m.timeout_ms for m in manifest.models)
    deployment = _deployment(
        "gateway", "gateway", None, [container], volumes, grace_s=DRAIN_S + longest // 1000 + 10
    )
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta("gateway", "gateway"),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "gateway"},
            "minReplicas": 2,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        },
    }
    return [deployment, _service("gateway", "gateway"), hpa, _pdb("gateway", "gateway")]


def tfserving_resources(manifest: Manifest) -> list[dict[str, Any]]:
    models = _tf(manifest)
    if not models:
        return []
    # The image's healthcheck: every model of models.config AVAILABLE, none still loading
    # (also after a rollout, when the first model's status alone would still answer 200).
    status = _probe(TFSERVING)
    container = {
        "name": "tf-serving",
        "image": _image("tf-serving"),
        "imagePullPolicy": "Always",
        "ports": _ports("tf-serving"),
        "resources": _resources("1", "1Gi", "2", "4Gi"),
        "securityContext": _container_security(),
        "startupProbe": {
            **status,
            "periodSeconds": 5,
            "timeoutSeconds": 4,
            "failureThreshold": 120,
        },
        "readinessProbe": {
            **status,
            "periodSeconds": 5,
            "timeoutSeconds": 4,
            "failureThreshold": 2,
        },
        "livenessProbe": {
            "tcpSocket": {"port": "grpc"},
            "periodSeconds": 10,
            "timeoutSeconds": 3,
            "failureThreshold": 6,
        },
        "lifecycle": _prestop(_drain_s(models)),
        "volumeMounts": [
            {
                "name": "models",
                "mountPath": str(MODEL_ROOT / "tensorflow"),
                "subPath": "tensorflow",
                "readOnly": True,
            },
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    volumes = [
        _models_volume(),
        _config_volume("tf-serving-config"),
        _store_credentials_volume(),
        _tmp_volume(),
    ]
    deployment = _deployment(
        "tf-serving",
        "backend",
        _replicas(models),
        [container],
        volumes,
        grace_s=_drain_s(models) + 15,
        init=[_fetch_container(model_paths(manifest, TFSERVING.framework))],
    )
    return [deployment, _service("tf-serving", "backend"), _pdb("tf-serving", "backend")]


def torchserve_resources(manifest: Manifest) -> list[dict[str, Any]]:
    models = _torch(manifest)
    if not models:
        return []
    logs = str(MODEL_ROOT / "torchserve" / "logs")
    env = {
        # TorchServe reads TS_CONFIG_FILE before its command line: the image's CMD may vary.
        "TS_CONFIG_FILE": f"{CONFIG_DIR}/config.properties",
        "LOG_LOCATION": logs,
        "METRICS_LOCATION": logs,
        "HOME": "/tmp",
    }
    ready = _probe(TORCHSERVE)
    container = {
        "name": "torchserve",
        "image": _image("torchserve"),
        "imagePullPolicy": "Always",
        "ports": _ports("torchserve"),
        "env": [{"name": k, "value": v} for k, v in env.items()],
        "workingDir": "/tmp",
        "resources": _resources("1", "2Gi", "2", "4Gi"),
        "securityContext": _container_security(),
        "startupProbe": {**ready, "periodSeconds": 5, "timeoutSeconds": 4, "failureThreshold": 120},
        "readinessProbe": {**ready, "periodSeconds": 5, "timeoutSeconds": 4, "failureThreshold": 2},
        "livenessProbe": {
            "httpGet": {"path": "/ping", "port": "http"},
            "periodSeconds": 10,
            "timeoutSeconds": 3,
            "failureThreshold": 6,
        },
        "lifecycle": _prestop(_drain_s(models)),
        "volumeMounts": [
            {
                "name": "models",
                "mountPath": str(MODEL_ROOT / "torchserve" / "model-store"),
                "subPath": "torchserve/model-store",
                "readOnly": True,
            },
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "ts-tmp", "mountPath": str(MODEL_ROOT / "torchserve" / "tmp")},
            {"name": "ts-logs", "mountPath": logs},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    volumes = [
        _models_volume(),
        _config_volume("torchserve-config"),
        _store_credentials_volume(),
        _tmp_volume("ts-tmp"),
        _tmp_volume("ts-logs"),
        _tmp_volume(),
    ]
    deployment = _deployment(
        "torchserve",
        "backend",
        _replicas(models),
        [container],
        volumes,
        grace_s=_drain_s(models) + 15,
        init=[_fetch_container(model_paths(manifest, TORCHSERVE.framework))],
    )
    return [deployment, _service("torchserve", "backend"), _pdb("torchserve", "backend")]


RESOURCES: dict[str, Callable[[Manifest], list[dict[str, Any]]]] = {
    TFSERVING.component: tfserving_resources,
    TORCHSERVE.component: torchserve_resources,
}
"""Each backend kind's Deployment, Service and PodDisruptionBudget, by component."""


def network_policies(manifest: Manifest) -> list[dict[str, Any]]:
    def policy(name: str, tier: str, target: str, ingress: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": _meta(name, tier),
            "spec": {
                "podSelector": {"matchLabels": _selector(target)} if target else {},
                "policyTypes": ["Ingress"],
                "ingress": ingress,
            },
        }

    def ports(component: str, names: list[str]) -> list[dict[str, Any]]:
        return [{"protocol": "TCP", "port": CONTAINER_PORTS[component][n]} for n in names]

    from_gateway = [{"podSelector": {"matchLabels": _selector("gateway")}}]
    # Prometheus anywhere in the cluster, by its usual label, may scrape the metrics ports.
    from_prometheus = [
        {
            "namespaceSelector": {},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
        }
    ]
    out = [
        policy("default-deny-ingress", "shared", "", []),
        policy(
            "gateway-ingress", "gateway", "gateway", [{"ports": ports("gateway", ["http", "grpc"])}]
        ),
    ]
    for kind in KINDS:
        if not kind.models(manifest):
            continue
        # The gateway reaches the serving ports; Prometheus only the one with the metrics.
        serving = [n for n in kind.container_ports if n != "metrics"]
        metrics = [kind.metrics_port_name]
        out.append(
            policy(
                f"{kind.component}-ingress",
                "backend",
                kind.component,
                [
                    {"from": from_gateway, "ports": ports(kind.component, serving)},
                    {"from": from_prometheus, "ports": ports(kind.component, metrics)},
                ],
            )
        )
    return out


def shared_resources() -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": NAMESPACE,
                "labels": {
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "tandem", "labels": {"tandem.io/tier": "shared"}},
            "automountServiceAccountToken": False,
        },
    ]


# ---------------------------------------------------------------------------- overlays


def _gpu_patch(name: str, container: str, gpus: int, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            # Never needs a spare GPU: one old pod goes, then its replacement comes; the
            # other replicas (>= 2) keep serving, and the PDB bounds voluntary evictions.
            "replicas": replicas,
            "strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
            "template": {
                "spec": {
                    "affinity": {
                        "nodeAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": {
                                "nodeSelectorTerms": [
                                    {
                                        "matchExpressions": [
                                            {
                                                "key": "nvidia.com/gpu.present",
                                                "operator": "In",
                                                "values": ["true"],
                                            }
                                        ]
                                    }
                                ]
                            }
                        }
                    },
                    "tolerations": [
                        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
                    ],
                    "containers": [
                        {
                            "name": container,
                            "resources": {
                                "requests": {"nvidia.com/gpu": gpus},
                                "limits": {"nvidia.com/gpu": gpus},
                            },
                        }
                    ],
                }
            },
        },
    }


def _replicas_patch(kind: str, name: str, field: str, value: int) -> dict[str, Any]:
    api = "apps/v1" if kind == "Deployment" else "autoscaling/v2"
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name}, "spec": {field: value}}


def _kustomization(body: dict[str, Any], kind: str = "Kustomization") -> dict[str, Any]:
    api = "v1beta1" if kind == "Kustomization" else "v1alpha1"
    return {"apiVersion": f"kustomize.config.k8s.io/{api}", "kind": kind, **body}


def _generator(name: str, tier: str, files: list[str], behavior: str = "") -> dict[str, Any]:
    g: dict[str, Any] = {"name": name}
    if behavior:
        g["behavior"] = behavior
    g["files"] = files
    g["options"] = {"labels": {"tandem.io/tier": tier}}
    return g


@dataclass(frozen=True)
class Tree:
    """Relative path → file contents of the whole kustomize tree."""

    files: dict[str, str]

    def write(self, dest: Path) -> list[Path]:
        written = []
        for rel, text in sorted(self.files.items()):
            path = dest / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
        return written


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (embedded patches) as literal blocks, readable in review."""


def _str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _str)


def _dump(*docs: dict[str, Any]) -> str:
    head = "# Generated by `tandem k8s render` from models.yaml; edit the manifest, not this.\n"
    return head + "---\n".join(
        yaml.dump(d, Dumper=_Dumper, sort_keys=False, width=100) for d in docs
    )


def render_tree(manifest: Manifest, model_repository: str = DEFAULT_MODEL_REPOSITORY) -> Tree:
    """Every file of the kustomize tree for `manifest` (pure: same input, same bytes)."""
    files: dict[str, str] = {}
    base: dict[str, Any] = {"namespace": NAMESPACE}
    base["labels"] = [{"pairs": {"app.kubernetes.io/part-of": "tandem"}}]
    resources = ["shared.yaml", "gateway.yaml"]
    files["base/shared.yaml"] = _dump(*shared_resources())
    files["base/gateway.yaml"] = _dump(*gateway_resources(manifest))
    generators = []
    configs = config_files(manifest, "cpu")
    components = [("gateway", "gateway", "gateway-routes")]
    components += [(k.component, "backend", f"{k.component}-config") for k in KINDS]
    for component, tier, configmap in components:
        if component not in configs:
            continue
        if component != "gateway":
            resources.append(f"{component}.yaml")
            files[f"base/{component}.yaml"] = _dump(*RESOURCES[component](manifest))
        names = []
        for fname, text in configs[component].items():
            files[f"base/config/{component}/{fname}"] = text
            names.append(f"config/{component}/{fname}")
        generators.append(_generator(configmap, tier, names))
    resources.append("network-policies.yaml")
    files["base/network-policies.yaml"] = _dump(*network_policies(manifest))
    generators.append(
        {
            "name": "model-repository",
            "literals": [f"TANDEM_MODEL_REPOSITORY={model_repository}"],
            "options": {"labels": {"tandem.io/tier": "backend"}},
        }
    )
    base["resources"] = resources
    base["configMapGenerator"] = generators
    files["base/kustomization.yaml"] = _dump(_kustomization(base))

    backends = [(kind.component, kind) for kind in KINDS if kind.models(manifest)]

    # cpu: one replica of everything, for dev clusters.
    cpu_patches = [_replicas_patch("Deployment", n, "replicas", 1) for n, _ in backends]
    cpu_patches.append(_replicas_patch("HorizontalPodAutoscaler", "gateway", "minReplicas", 1))
    files["overlays/cpu/patches.yaml"] = _dump(*cpu_patches)
    files["overlays/cpu/kustomization.yaml"] = _dump(
        _kustomization({"resources": ["../../base"], "patches": [{"path": "patches.yaml"}]})
    )

    # gpu: GPU limits from the manifest's devices, -gpu images, TorchServe told its GPUs.
    gpu: dict[str, Any] = {"resources": ["../../base"]}
    gpu_patches = [
        _gpu_patch(name, name, gpu_count(manifest, kind), max(2, _replicas(kind.models(manifest))))
        for name, kind in backends
    ]
    if _torch(manifest):
        props = config_files(manifest, "gpu")["torchserve"]["config.properties"]
        files["overlays/gpu/config/torchserve/config.properties"] = props
        gpu["configMapGenerator"] = [
            _generator(
                "torchserve-config",
                "backend",
                ["config/torchserve/config.properties"],
                behavior="merge",
            )
        ]
    gpu["images"] = [{"name": IMAGES[n], "newTag": GPU_TAG} for n, _ in backends]
    gpu["patches"] = [{"path": "patches.yaml"}]
    files["overlays/gpu/patches.yaml"] = _dump(*gpu_patches)
    files["overlays/gpu/kustomization.yaml"] = _dump(_kustomization(gpu))

    # models-pvc: a read-only PVC replaces the fetch initContainer and its emptyDir.
    pvc = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "tandem-models", "labels": {"tandem.io/tier": "backend"}},
        "spec": {"accessModes": ["ReadOnlyMany"], "resources": {"requests": {"storage": "20Gi"}}},
    }
    files["components/models-pvc/pvc.yaml"] = _dump(pvc)
    ops = [
        {"op": "remove", "path": "/spec/template/spec/initContainers"},
        {
            "op": "replace",
            "path": "/spec/template/spec/volumes/0",
            "value": {
                "name": "models",
                "persistentVolumeClaim": {"claimName": "tandem-models", "readOnly": True},
            },
        },
    ]
    pvc_component = {
        "resources": ["pvc.yaml"],
        "patches": [
            {"target": {"kind": "Deployment", "name": name}, "patch": yaml.safe_dump(ops)}
            for name, _ in backends
        ],
    }
    files["components/models-pvc/kustomization.yaml"] = _dump(
        _kustomization(pvc_component, kind="Component")
    )
    files["overlays/gpu-pvc/kustomization.yaml"] = _dump(
        _kustomization({"resources": ["../gpu"], "components": ["../../components/models-pvc"]})
    )
    # monitoring: PodMonitors, PrometheusRule, Grafana dashboard ConfigMap (opt-in component).
    files.update(monitoring_component(manifest, _dump, NAMESPACE))
    return Tree(files)


def current_repository(tree: Path) -> str | None:
    """The model repository URI an existing tree was rendered with (None: no tree yet), so a
    re-render without `--model-repository` keeps it."""
    path = tree / "base" / "kustomization.yaml"
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    for gen in doc.get("configMapGenerator", []) if isinstance(doc, dict) else []:
        for literal in gen.get("literals", []):
            key, _, value = str(literal).partition("=")
            if key == "TANDEM_MODEL_REPOSITORY" and value:
                return value
    return None


def render(
    manifest: Manifest,
    tree_dir: Path,
    out: Path,
    overlays: list[str],
    model_repository: str = DEFAULT_MODEL_REPOSITORY,
) -> list[Path]:
    """`tandem k8s render`: write the kustomize tree into `tree_dir`, then each overlay's
    built YAML (`kubectl kustomize`) to `out/<overlay>.yaml`. Returns the built files."""
    from tandem.k8s.kubectl import kustomize

    unknown = sorted(set(overlays) - set(OVERLAYS))
    if unknown:
        raise K8sError(f"unknown overlay {unknown[0]!r} (known: {', '.join(OVERLAYS)})")
    render_tree(manifest, model_repository).write(tree_dir)
    out.mkdir(parents=True, exist_ok=True)
    built = []
    for overlay in overlays:
        path = out / f"{overlay}.yaml"
        path.write_text(kustomize(tree_dir / "overlays" / overlay), encoding="utf-8")
        built.append(path)
    return built
