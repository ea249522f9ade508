"""Consistency of the rendered YAML across overlays, and broken fixtures each check must
catch."""

from __future__ import annotations

import copy
import json

import pytest

from tandem.k8s.render import OVERLAYS
from tests.k8s import checks
from tests.k8s.checks import load_docs


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("check", checks.ALL_CHECKS, ids=lambda c: c.__name__)
def test_overlay_is_consistent(built, overlay, check):
    assert check(load_docs(built[overlay])) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_gpu_limits_only_in_gpu(built, overlay):
    gpu = overlay.startswith("gpu")
    assert checks.check_gpu(load_docs(built[overlay]), gpu=gpu) == []
    # and the opposite reading of the same render fails
    assert checks.check_gpu(load_docs(built[overlay]), gpu=not gpu) != []


def _deployment(docs, name):
    return next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == name)


def _cm(docs, prefix):
    return next(
        d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith(prefix)
    )


def _break_service_selector(docs):
    s = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "torchserve")
    s["spec"]["selector"] = {"app.kubernetes.io/name": "torch-serve"}


def _break_pdb(docs):
    p = next(d for d in docs if d["kind"] == "PodDisruptionBudget")
    p["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] = "nothing"


def _break_hpa(docs):
    h = next(d for d in docs if d["kind"] == "HorizontalPodAutoscaler")
    h["spec"]["scaleTargetRef"]["name"] = "gatewya"


def _break_netpol(docs):
    n = next(
        d
        for d in docs
        if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "torchserve-ingress"
    )
    n["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] = (
        "gw"
    )


def _break_target_port(docs):
    s = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "tf-serving")
    s["spec"]["ports"][0]["targetPort"] = "grpcc"


def _break_probe_port(docs):
    c = _deployment(docs, "gateway")["spec"]["template"]["spec"]["containers"][0]
    c["readinessProbe"]["httpGet"]["port"] = 8080


def _break_route(docs):
    cm = _cm(docs, "gateway-routes")
    routes = json.loads(cm["data"]["routes.json"])
    routes["backends"]["tfserving"]["grpc_target"] = "tf-serving:9000"
    cm["data"]["routes.json"] = json.dumps(routes)


def _break_properties(docs):
    cm = _cm(docs, "torchserve-config")
    cm["data"]["config.properties"] = cm["data"]["config.properties"].replace(
        "inference_address=http://0.0.0.0:8080", "inference_address=http://0.0.0.0:8085"
    )


def _break_latest(docs):
    _deployment(docs, "gateway")["spec"]["template"]["spec"]["containers"][0]["image"] = (
        "tandem/gateway:latest"
    )


def _break_untagged(docs):
    spec = _deployment(docs, "torchserve")["spec"]["template"]["spec"]
    spec["initContainers"][0]["image"] = "tandem/model-fetch"


def _break_security(docs):
    c = _deployment(docs, "tf-serving")["spec"]["template"]["spec"]["containers"][0]
    del c["securityContext"]


def _break_root_fs(docs):
    spec = _deployment(docs, "torchserve")["spec"]["template"]["spec"]
    spec["initContainers"][0]["securityContext"]["readOnlyRootFilesystem"] = False


def _break_config_hash(docs):
    spec = _deployment(docs, "gateway")["spec"]["template"]["spec"]
    spec["volumes"][0]["configMap"]["name"] = "gateway-routes"


def _break_hpa_replicas(docs):
    _deployment(docs, "gateway")["spec"]["replicas"] = 3


BROKEN = [
    (_break_service_selector, checks.check_selectors, "Service/torchserve"),
    (_break_pdb, checks.check_selectors, "PodDisruptionBudget"),
    (_break_hpa, checks.check_selectors, "HorizontalPodAutoscaler"),
    (_break_netpol, checks.check_selectors, "torchserve-ingress"),
    (_break_target_port, checks.check_ports, "targetPort 'grpcc'"),
    (_break_probe_port, checks.check_ports, "readinessProbe port 8080"),
    (_break_route, checks.check_ports, "no Service tf-serving:9000"),
    (_break_properties, checks.check_ports, "inference_address port 8085"),
    (_break_latest, checks.check_images, "tandem/gateway:latest"),
    (_break_untagged, checks.check_images, "model-fetch"),
    (_break_security, checks.check_security, "no securityContext"),
    (_break_root_fs, checks.check_security, "readOnlyRootFilesystem"),
    (_break_config_hash, checks.check_config_rolls, "not hashed"),
    (_break_hpa_replicas, checks.check_hpa_owns_replicas, "an HPA scales it"),
]


@pytest.mark.parametrize(
    ("breaker", "check", "needle"), BROKEN, ids=lambda x: getattr(x, "__name__", "")
)
def test_broken_fixture_fails(built, breaker, check, needle):
    docs = copy.deepcopy(load_docs(built["gpu"]))
    assert check(docs) == []
    breaker(docs)
    problems = check(docs)
    assert any(needle in p for p in problems), problems


def test_gpu_check_catches_surge_and_single_replica(built):
    docs = copy.deepcopy(load_docs(built["gpu"]))
    d = _deployment(docs, "torchserve")
    d["spec"]["strategy"]["rollingUpdate"]["maxSurge"] = 1
    d["spec"]["replicas"] = 1
    problems = checks.check_gpu(docs, gpu=True)
    assert any("maxSurge" in p for p in problems)
    assert any(">= 2 replicas" in p for p in problems)
