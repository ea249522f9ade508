"""Consistency checks on rendered Kubernetes YAML. Each returns the list of problems found
(empty = consistent), so a test can assert a clean render passes and a broken fixture fails
for the reason it was broken."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

Doc = dict[str, Any]
REPO = Path(__file__).resolve().parents[2]


def load_docs(text: str) -> list[Doc]:
    return [d for d in yaml.safe_load_all(text) if d]


WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")


def by_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d.get("kind") == kind]


def pod_templates(docs: list[Doc]) -> Iterator[tuple[Doc, Doc]]:
    """(workload, pod template) for every workload."""
    for d in docs:
        if d.get("kind") in WORKLOADS:
            yield d, d["spec"]["template"]


def containers(pod_spec: Doc, init: bool = True) -> list[Doc]:
    out = list(pod_spec.get("containers", []))
    if init:
        out += pod_spec.get("initContainers", [])
    return out


def _matches(selector: Doc, labels: dict[str, str]) -> bool:
    """matchLabels (or a plain label map, as Services use) against pod labels."""
    wanted = selector.get("matchLabels", selector) if "matchLabels" in selector else selector
    if "matchExpressions" in selector:
        raise AssertionError("matchExpressions are not used in this project's selectors")
    return all(labels.get(k) == v for k, v in wanted.items())


def _selected(docs: list[Doc], selector: Doc) -> list[tuple[Doc, Doc]]:
    return [(w, t) for w, t in pod_templates(docs) if _matches(selector, t["metadata"]["labels"])]


def check_selectors(docs: list[Doc]) -> list[str]:
    """Services, PDBs and NetworkPolicies select pods; Deployments select their own template;
    the HPA targets an existing Deployment."""
    problems = []
    for w, t in pod_templates(docs):
        if not _matches(w["spec"]["selector"], t["metadata"]["labels"]):
            problems.append(f"{w['kind']}/{w['metadata']['name']}: selector misses its template")
    for s in by_kind(docs, "Service"):
        if not _selected(docs, s["spec"].get("selector", {})):
            problems.append(f"Service/{s['metadata']['name']}: selector matches no pods")
    for p in by_kind(docs, "PodDisruptionBudget"):
        if not _selected(docs, p["spec"]["selector"]):
            problems.append(f"PodDisruptionBudget/{p['metadata']['name']}: matches no pods")
    for h in by_kind(docs, "HorizontalPodAutoscaler"):
        ref = h["spec"]["scaleTargetRef"]
        if not [d for d in by_kind(docs, ref["kind"]) if d["metadata"]["name"] == ref["name"]]:
            problems.append(f"HorizontalPodAutoscaler/{h['metadata']['name']}: no {ref['name']}")
    for n in by_kind(docs, "NetworkPolicy"):
        name = n["metadata"]["name"]
        sel = n["spec"]["podSelector"]
        if sel and not _selected(docs, sel):
            problems.append(f"NetworkPolicy/{name}: podSelector matches no pods")
        for rule in n["spec"].get("ingress", []):
            for peer in rule.get("from", []):
                if "namespaceSelector" in peer:
                    continue  # other namespaces: not in this render
                if not _selected(docs, peer["podSelector"]):
                    problems.append(f"NetworkPolicy/{name}: a 'from' podSelector matches no pods")
    return problems


def _port_names(pod_spec: Doc) -> dict[str | int, int]:
    out: dict[str | int, int] = {}
    for c in containers(pod_spec, init=False):
        for p in c.get("ports", []):
            out[p["containerPort"]] = p["containerPort"]
            if "name" in p:
                out[p["name"]] = p["containerPort"]
    return out


def _probe_ports(c: Doc) -> Iterator[tuple[str, str | int]]:
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = c.get(kind)
        if not probe:
            continue
        for action in ("httpGet", "tcpSocket", "grpc"):
            if action in probe:
                yield kind, probe[action]["port"]


def _config_data(docs: list[Doc], name_prefix: str, key: str) -> str | None:
    for cm in by_kind(docs, "ConfigMap"):
        if cm["metadata"]["name"].startswith(name_prefix) and key in cm.get("data", {}):
            return str(cm["data"][key])
    return None


def check_ports(docs: list[Doc]) -> list[str]:
    """Service targetPorts, probe ports and NetworkPolicy ports exist on the selected
    containers; the gateway's route file dials existing Service ports; TorchServe's
    config.properties binds the ports its container declares."""
    problems = []
    services: dict[str, set[int]] = {}
    for s in by_kind(docs, "Service"):
        name = s["metadata"]["name"]
        services[name] = {p["port"] for p in s["spec"]["ports"]}
        for w, t in _selected(docs, s["spec"].get("selector", {})):
            ports = _port_names(t["spec"])
            for p in s["spec"]["ports"]:
                target = p.get("targetPort", p["port"])
                if target not in ports:
                    problems.append(
                        f"Service/{name}: targetPort {target!r} not on {w['metadata']['name']}"
                    )
    for w, t in pod_templates(docs):
        ports = _port_names(t["spec"])
        for c in containers(t["spec"], init=False):
            for kind, port in _probe_ports(c):
                if port not in ports:
                    problems.append(f"{w['metadata']['name']}/{c['name']}: {kind} port {port!r}")
    for n in by_kind(docs, "NetworkPolicy"):
        sel = n["spec"]["podSelector"]
        for _w, t in _selected(docs, sel) if sel else []:
            ports = _port_names(t["spec"])
            for rule in n["spec"].get("ingress", []):
                for p in rule.get("ports", []):
                    if p["port"] not in ports:
                        problems.append(
                            f"NetworkPolicy/{n['metadata']['name']}: port {p['port']} not served"
                        )
    routes = _config_data(docs, "gateway-routes", "routes.json")
    if routes is None:
        problems.append("no gateway-routes ConfigMap with routes.json")
    else:
        for name, backend in json.loads(routes)["backends"].items():
            targets = []
            if backend.get("grpc_target"):
                targets.append(urlsplit(f"//{backend['grpc_target']}"))
            if backend.get("rest_url"):
                targets.append(urlsplit(backend["rest_url"]))
            for url in targets:
                host = (url.hostname or "").split(".")[0]
                dial = url.port or 80
                if dial not in services.get(host, set()):
                    problems.append(f"routes.json backend {name}: no Service {host}:{dial}")
    props = _config_data(docs, "torchserve-config", "config.properties")
    if props is not None:
        kv = dict(line.split("=", 1) for line in props.splitlines() if "=" in line)
        ts = [t for w, t in pod_templates(docs) if w["metadata"]["name"] == "torchserve"]
        declared = set(_port_names(ts[0]["spec"]).values()) if ts else set()
        for key in ("inference_address", "metrics_address"):
            bound = urlsplit(kv[key]).port
            if bound not in declared:
                problems.append(f"config.properties {key} port {bound} is not a containerPort")
        if int(kv["grpc_inference_port"]) not in declared:
            problems.append("config.properties grpc_inference_port is not a containerPort")
    return problems


def check_gpu(docs: list[Doc], gpu: bool) -> list[str]:
    """gpu: every backend container limits nvidia.com/gpu, tolerates the GPU taint, and rolls
    with maxSurge 0 over >= 2 replicas; cpu: no GPU anywhere."""
    problems = []
    for w, t in pod_templates(docs):
        name = w["metadata"]["name"]
        backend = t["metadata"]["labels"].get("tandem.io/tier") == "backend"
        for c in containers(t["spec"]):
            limit = c.get("resources", {}).get("limits", {}).get("nvidia.com/gpu")
            if not gpu and limit is not None:
                problems.append(f"{name}/{c['name']}: nvidia.com/gpu in a cpu render")
            if gpu and backend and c in t["spec"]["containers"] and not limit:
                problems.append(f"{name}/{c['name']}: no nvidia.com/gpu limit")
        if gpu and backend:
            rolling = w["spec"].get("strategy", {}).get("rollingUpdate", {})
            if rolling.get("maxSurge") != 0:
                problems.append(f"{name}: maxSurge must be 0 on GPUs (no spare card)")
            if w["spec"].get("replicas", 1) < 2:
                problems.append(f"{name}: needs >= 2 replicas with maxUnavailable 1")
            keys = {tol.get("key") for tol in t["spec"].get("tolerations", [])}
            if "nvidia.com/gpu" not in keys:
                problems.append(f"{name}: no toleration for the nvidia.com/gpu taint")
    return problems


def check_images(docs: list[Doc]) -> list[str]:
    """Every image names a tag (or digest), never `latest`."""
    problems = []
    for w, t in pod_templates(docs):
        for c in containers(t["spec"]):
            image = c["image"]
            ref = image.rsplit("/", 1)[-1]
            tag = ref.split(":", 1)[1] if ":" in ref else None
            if "@sha256:" not in image and (tag is None or tag == "latest"):
                problems.append(f"{w['metadata']['name']}/{c['name']}: image {image} untagged")
    return problems


def check_security(docs: list[Doc]) -> list[str]:
    """Every container (init included): non-root, read-only root, no privilege escalation,
    ALL capabilities dropped, seccomp RuntimeDefault (its own or the pod's)."""
    problems = []
    for w, t in pod_templates(docs):
        pod_sc = t["spec"].get("securityContext", {})
        for c in containers(t["spec"]):
            where = f"{w['metadata']['name']}/{c['name']}"
            sc = c.get("securityContext")
            if not sc:
                problems.append(f"{where}: no securityContext")
                continue
            if not sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")):
                problems.append(f"{where}: runAsNonRoot not set")
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: readOnlyRootFilesystem not true")
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: allowPrivilegeEscalation not false")
            if "ALL" not in sc.get("capabilities", {}).get("drop", []):
                problems.append(f"{where}: capabilities do not drop ALL")
            seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {}))
            if seccomp.get("type") != "RuntimeDefault":
                problems.append(f"{where}: seccompProfile is not RuntimeDefault")
    return problems


def check_config_rolls(docs: list[Doc]) -> list[str]:
    """Every ConfigMap a pod mounts is a generated one (name carries the content hash), so a
    config change changes the pod template and rolls the pods."""
    problems = []
    generated = {cm["metadata"]["name"] for cm in by_kind(docs, "ConfigMap")}
    for w, t in pod_templates(docs):
        for v in t["spec"].get("volumes", []):
            name = v.get("configMap", {}).get("name")
            if name is None:
                continue
            base = name.rsplit("-", 1)[0]
            if name not in generated or base == name or len(name) - len(base) != 11:
                problems.append(f"{w['metadata']['name']}: ConfigMap {name} is not hashed")
    return problems


def check_hpa_owns_replicas(docs: list[Doc]) -> list[str]:
    """A Deployment scaled by an HPA states no replica count (apply would reset the scale)."""
    scaled = {h["spec"]["scaleTargetRef"]["name"] for h in by_kind(docs, "HorizontalPodAutoscaler")}
    return [
        f"Deployment/{d['metadata']['name']}: replicas set, but an HPA scales it"
        for d in by_kind(docs, "Deployment")
        if d["metadata"]["name"] in scaled and "replicas" in d["spec"]
    ]


ALL_CHECKS = (
    check_selectors,
    check_ports,
    check_images,
    check_security,
    check_config_rolls,
    check_hpa_owns_replicas,
)
