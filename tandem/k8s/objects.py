"""The building blocks of the Kubernetes objects `tandem k8s render` writes.

Shared by the tree (`tandem.k8s.render`) and each backend kind's Deployment builder (its
module in `tandem.kinds`); nothing here knows a kind by name. The containers' contract: the
exported build at `MODEL_ROOT`, configs at `CONFIG_DIR`, non-root user `USER_ID`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tandem import __version__
from tandem.layout import CONTAINER_CONFIG, CONTAINER_ROOT
from tandem.manifest import ModelSpec

if TYPE_CHECKING:
    from tandem.kinds import BackendKind

TAG = __version__
GPU_TAG = f"{TAG}-gpu"
FETCH_IMAGE = "tandem/model-fetch"
MODEL_ROOT = CONTAINER_ROOT
CONFIG_DIR = str(CONTAINER_CONFIG)
STORE_CREDENTIALS_SECRET = "tandem-model-store-credentials"
STORE_CREDENTIALS_DIR = "/var/run/secrets/model-store"
USER_ID = 10001
DRAIN_S = 10
"""preStop sleep: time for the endpoint removal to reach every kube-proxy and gateway."""


def probe(kind: BackendKind) -> dict[str, Any]:
    """The exec action of a kind's startup and readiness probes (`BackendKind.probe_command`)."""
    return {"exec": {"command": [part.format(config=CONFIG_DIR) for part in kind.probe_command]}}


def replicas(models: list[ModelSpec]) -> int:
    return max((m.replicas for m in models), default=1)


def labels(name: str, tier: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "tandem.io/tier": tier}


def selector(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name}


def meta(name: str, tier: str) -> dict[str, Any]:
    return {"name": name, "labels": labels(name, tier)}


def container_security() -> dict[str, Any]:
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


def pod_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": USER_ID,
        "runAsGroup": USER_ID,
        "fsGroup": USER_ID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def image(repository: str) -> str:
    """An image of this release (`repository:TAG`)."""
    return f"{repository}:{TAG}"


def ports(named: Mapping[str, int]) -> list[dict[str, Any]]:
    """A container's `ports` (its exposed ports, by name)."""
    return [
        {"name": name, "containerPort": port, "protocol": "TCP"} for name, port in named.items()
    ]


def resources(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> dict[str, Any]:
    return {
        "requests": {"cpu": cpu, "memory": memory, "ephemeral-storage": "256Mi"},
        "limits": {"cpu": cpu_limit, "memory": memory_limit, "ephemeral-storage": "1Gi"},
    }


def prestop(seconds: int) -> dict[str, Any]:
    # An exec sleep rather than lifecycle.sleep: that action is beta only from 1.30.
    return {"preStop": {"exec": {"command": ["sleep", str(seconds)]}}}


def spread(name: str) -> list[dict[str, Any]]:
    return [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": selector(name)},
            "matchLabelKeys": ["pod-template-hash"],
        }
        for key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone")
    ]


def config_volume(configmap: str) -> dict[str, Any]:
    return {"name": "config", "configMap": {"name": configmap}}


def deployment(
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
        "securityContext": pod_security(),
        "terminationGracePeriodSeconds": grace_s,
        "topologySpreadConstraints": spread(name),
    }
    if init:
        spec["initContainers"] = init
    spec["containers"] = containers
    spec["volumes"] = volumes
    deployment: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(name, tier),
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector(name)},
            # CPU default: surge one pod, never drop below the replica count.
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": {"metadata": {"labels": labels(name, tier)}, "spec": spec},
        },
    }
    if replicas is None:
        # Scaled by an HPA: a replica count here would reset its scale on every apply.
        del deployment["spec"]["replicas"]
    return deployment


def backend_container(
    kind: BackendKind,
    models: list[ModelSpec],
    *,
    resources: dict[str, Any],
    liveness: dict[str, Any],
    mounts: list[dict[str, Any]],
    **extra: Any,
) -> dict[str, Any]:
    """A backend kind's server container: its image and ports, then ``extra`` (env,
    workingDir), then what every kind shares: the security context, startup and readiness
    probes running the kind's readiness rule (slow loads get 10 minutes), ``liveness`` and
    the preStop drain."""
    ready = probe(kind)
    return {
        "name": kind.component,
        "image": image(kind.image),
        "imagePullPolicy": "Always",
        "ports": ports(kind.container_ports),
        **extra,
        "resources": resources,
        "securityContext": container_security(),
        "startupProbe": {**ready, "periodSeconds": 5, "timeoutSeconds": 4, "failureThreshold": 120},
        "readinessProbe": {**ready, "periodSeconds": 5, "timeoutSeconds": 4, "failureThreshold": 2},
        "livenessProbe": {
            **liveness,
            "periodSeconds": 10,
            "timeoutSeconds": 3,
            "failureThreshold": 6,
        },
        "lifecycle": prestop(drain_s(models)),
        "volumeMounts": mounts,
    }


def backend_tier(
    kind: BackendKind,
    models: list[ModelSpec],
    container: dict[str, Any],
    volumes: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """A backend kind's Deployment (its served versions fetched by an initContainer), Service
    and PodDisruptionBudget: what every kind's builder returns around its own container."""
    return [
        deployment(
            kind.component,
            "backend",
            replicas(models),
            [container],
            volumes,
            grace_s=drain_s(models) + 15,
            init=[fetch_container([p for m in models for p in kind.repository_paths(m)])],
        ),
        service(kind.component, "backend", kind.container_ports),
        pdb(kind.component, "backend"),
    ]


def service(name: str, tier: str, named: Mapping[str, int]) -> dict[str, Any]:
    """A ClusterIP Service named after its Deployment, on its container's ports `named`."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(name, tier),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(name),
            "ports": [
                {"name": port_name, "port": port, "targetPort": port_name, "protocol": "TCP"}
                for port_name, port in named.items()
            ],
        },
    }


def pdb(name: str, tier: str) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta(name, tier),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": selector(name)},
            # A pod that never became ready may be evicted; it serves nothing anyway.
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }


def fetch_container(paths: list[str]) -> dict[str, Any]:
    return {
        "name": "model-fetch",
        "image": image(FETCH_IMAGE),
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
        "resources": resources("100m", "256Mi", "1", "1Gi"),
        "securityContext": container_security(),
        "volumeMounts": [
            {"name": "models", "mountPath": str(MODEL_ROOT)},
            {"name": "store-credentials", "mountPath": STORE_CREDENTIALS_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }


def store_credentials_volume() -> dict[str, Any]:
    return {
        "name": "store-credentials",
        "secret": {"secretName": STORE_CREDENTIALS_SECRET, "optional": True, "defaultMode": 0o440},
    }


def models_volume() -> dict[str, Any]:
    return {"name": "models", "emptyDir": {"sizeLimit": "20Gi"}}


def tmp_volume(name: str = "tmp") -> dict[str, Any]:
    return {"name": name, "emptyDir": {"sizeLimit": "1Gi"}}


def drain_s(models: list[ModelSpec]) -> int:
    """preStop: the endpoint update, then the longest request a model may still be running
    (TF Serving ignores SIGTERM, TorchServe has no graceful shutdown)."""
    longest = max((-(-m.timeout_ms // 1000) for m in models), default=0)
    return DRAIN_S + longest
