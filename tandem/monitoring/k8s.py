"""The Kubernetes side of monitoring: an opt-in kustomize component `k8s/components/monitoring/`
rendered with the rest of `k8s/` by `tandem k8s render`.

    podmonitors.yaml        Prometheus Operator PodMonitors: the gateway (/metrics, with a
                            bearer key), TF Serving (/monitoring/prometheus/metrics), TorchServe
                            (metrics port)
    prometheus-rules.yaml   a PrometheusRule holding the same alert rules as build/config/
    tandem.json             the Grafana dashboard, put in a ConfigMap labelled
                            `grafana_dashboard: "1"` for Grafana's sidecar

An overlay takes it with ``components: [../../components/monitoring]`` (it needs the Operator's
CRDs, so no overlay includes it by default). The base NetworkPolicies already let pods labelled
``app.kubernetes.io/name: prometheus`` reach the backends' metrics ports.
"""

from __future__ import annotations

from typing import Any

import yaml

from tandem.backend_kinds import KINDS
from tandem.manifest import Manifest
from tandem.monitoring import dashboard
from tandem.monitoring.prometheus import alert_rules

COMPONENT = "components/monitoring"
SCRAPE_KEY_SECRET = "tandem-prometheus-api-key"
"""Secret (key ``api-key``) with the API key Prometheus presents to the gateway's /metrics;
the same key must be one line of the gateway's ``tandem-gateway-api-keys``."""
DASHBOARD_CONFIGMAP = "tandem-grafana-dashboard"


def _pod_monitor(
    namespace: str, name: str, job: str, port: str, path: str, auth: dict[str, Any] | None = None
) -> dict[str, Any]:
    endpoint: dict[str, Any] = {
        "port": port,
        "path": path,
        "interval": "15s",
        # The alert rules and the dashboard know the local stack's job names.
        "relabelings": [{"action": "replace", "targetLabel": "job", "replacement": job}],
    }
    if auth is not None:
        endpoint["authorization"] = auth
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/name": name},
        },
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "podMetricsEndpoints": [endpoint],
        },
    }


def pod_monitors(manifest: Manifest, namespace: str) -> list[dict[str, Any]]:
    """One PodMonitor per component the manifest deploys (port names of the Deployments)."""
    auth = {"type": "Bearer", "credentials": {"name": SCRAPE_KEY_SECRET, "key": "api-key"}}
    out = [_pod_monitor(namespace, "gateway", "gateway", "http", "/metrics", auth)]
    for kind in KINDS:
        if kind.models(manifest):
            out.append(
                _pod_monitor(
                    namespace, kind.component, kind.id, kind.metrics_port_name, kind.metrics_path
                )
            )
    return out


def prometheus_rule(manifest: Manifest, namespace: str) -> dict[str, Any]:
    groups = yaml.safe_load(alert_rules(manifest))["groups"]
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "tandem",
            "namespace": namespace,
            "labels": {"app.kubernetes.io/name": "tandem"},
        },
        "spec": {"groups": groups},
    }


def component_files(manifest: Manifest, dump: Any, namespace: str) -> dict[str, str]:
    """Path under `k8s/` → contents; ``dump`` is the renderer's YAML writer (same header).
    Every object names ``namespace``: a component is applied by the overlay, outside the
    base's ``namespace:``."""
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1alpha1",
        "kind": "Component",
        "resources": ["podmonitors.yaml", "prometheus-rules.yaml"],
        "configMapGenerator": [
            {
                "name": DASHBOARD_CONFIGMAP,
                "namespace": namespace,
                "files": ["tandem.json"],
                "options": {
                    "labels": {"grafana_dashboard": "1", "tandem.io/tier": "monitoring"},
                    # Grafana's sidecar finds it by label; a fixed name keeps one copy.
                    "disableNameSuffixHash": True,
                },
            }
        ],
    }
    return {
        f"{COMPONENT}/kustomization.yaml": dump(kustomization),
        f"{COMPONENT}/podmonitors.yaml": dump(*pod_monitors(manifest, namespace)),
        f"{COMPONENT}/prometheus-rules.yaml": dump(prometheus_rule(manifest, namespace)),
        f"{COMPONENT}/tandem.json": dashboard.render(),
    }
