"""The Kubernetes monitoring component (`k8s/components/monitoring/`): built with the real
kustomize on top of an overlay, its PodMonitors select the Deployments' pods and named ports,
its PrometheusRule holds the same rules (checked by promtool), the dashboard ConfigMap carries
Grafana's sidecar label and the committed dashboard."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from monitoring_testkit import tool

from tandem.k8s.kubectl import kustomize
from tandem.k8s.render import render_tree
from tandem.monitoring import dashboard
from tandem.monitoring.k8s import COMPONENT, DASHBOARD_CONFIGMAP
from tandem.monitoring.prometheus import alert_rules


@pytest.fixture(scope="module")
def built(demo_manifest, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl (built-in kustomize) is required: see k8s/README.md")
    tree = tmp_path_factory.mktemp("k8s")
    render_tree(demo_manifest).write(tree)
    overlay = tree / "overlays" / "cpu-monitoring"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": ["../cpu"],
                "components": [f"../../{COMPONENT}"],
            }
        )
    )
    return [d for d in yaml.safe_load_all(kustomize(overlay)) if d]


def _one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, (kind, name)
    return found[0]


def test_component_is_part_of_the_render(demo_manifest) -> None:
    files = render_tree(demo_manifest).files
    assert files[f"{COMPONENT}/tandem.json"] == dashboard.render()
    assert {p for p in files if p.startswith(COMPONENT)} == {
        f"{COMPONENT}/{n}"
        for n in ("kustomization.yaml", "podmonitors.yaml", "prometheus-rules.yaml", "tandem.json")
    }


def test_pod_monitors_select_real_pods_and_ports(built) -> None:
    monitors = [d for d in built if d["kind"] == "PodMonitor"]
    assert sorted(m["metadata"]["name"] for m in monitors) == [
        "gateway",
        "tf-serving",
        "torchserve",
    ]
    jobs = {}
    for monitor in monitors:
        assert monitor["metadata"]["namespace"] == "tandem"
        deployment = _one(built, "Deployment", monitor["metadata"]["name"])
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        selector = monitor["spec"]["selector"]["matchLabels"]
        assert selector.items() <= pod_labels.items()
        ports = {
            p["name"]
            for c in deployment["spec"]["template"]["spec"]["containers"]
            for p in c["ports"]
        }
        (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
        assert endpoint["port"] in ports
        jobs[monitor["metadata"]["name"]] = endpoint["relabelings"][0]["replacement"]
    assert jobs == {"gateway": "gateway", "tf-serving": "tfserving", "torchserve": "torchserve"}
    gateway = _one(built, "PodMonitor", "gateway")["spec"]["podMetricsEndpoints"][0]
    assert gateway["authorization"]["credentials"]["name"] == "tandem-prometheus-api-key"


def test_prometheus_rule_passes_promtool(built, demo_manifest, tmp_path: Path) -> None:
    rule = _one(built, "PrometheusRule", "tandem")
    assert rule["metadata"]["namespace"] == "tandem"
    assert rule["spec"]["groups"] == yaml.safe_load(alert_rules(demo_manifest))["groups"]
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    checked = subprocess.run(
        [tool("promtool"), "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_dashboard_configmap_for_grafanas_sidecar(built) -> None:
    cm = _one(built, "ConfigMap", DASHBOARD_CONFIGMAP)
    assert cm["metadata"]["namespace"] == "tandem"
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(cm["data"]["tandem.json"]) == dashboard.dashboard()
