"""The Grafana dashboard: both backends side by side, from the gateway's histograms and each
server's own metrics.

Kept as code (plain dicts, no SDK: the document is small and its schema stable) and committed as
``monitoring/grafana/tandem.json``; a test pins the file to this generator, checks the document's
shape, and runs every query against a real Prometheus scraping a loaded stack.
``python -m tandem.monitoring.dashboard`` rewrites the file.

TF Serving is either the official binary or Tandem's compatible server; the batching panels
read TF Serving's own ``:tensorflow:serving:batching_session:*`` names, which both export.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

UID = "tandem-overview"
TITLE = "Tandem: models on TF Serving and TorchServe"
DASHBOARD_FILE = Path("monitoring") / "grafana" / "tandem.json"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}

_GW = 'model=~"$model", backend=~"$backend"'
_RATE = "[$__rate_interval]"
_TFS_BATCHING = ":tensorflow:serving:batching_session:"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str
    tf_server: str | None = None
    """``official`` or ``compat``: answers only when that TF Serving runs."""


@dataclass(frozen=True)
class Panel:
    title: str
    unit: str
    queries: tuple[Query, ...]
    description: str
    gpu: bool = False
    """Needs a GPU on some backend; empty on a CPU-only machine (the live test skips it)."""
    twin: bool = False
    """Needs traffic to a twin's public name (the shadow comparisons of a twin)."""
    kind: str = "timeseries"


def _quantile(q: float, metric: str, by: str = "model") -> str:
    return f"histogram_quantile({q}, sum by ({by}, le) (rate({metric}_bucket{{{_GW}}}{_RATE})))"


PANELS: tuple[Panel, ...] = (
    Panel(
        "Requests per second by model and backend",
        "reqps",
        (
            Query(
                f"sum by (model, backend) (rate(tandem_gateway_requests_total{{{_GW}}}{_RATE}))",
                "{{model}} on {{backend}}",
            ),
        ),
        "Every inference request the gateway answered, any status.",
    ),
    Panel(
        "Latency p50 / p95 / p99 by model (gateway)",
        "s",
        tuple(
            Query(_quantile(q, "tandem_gateway_request_duration_seconds"), f"{{{{model}}}} p{p}")
            for q, p in ((0.5, "50"), (0.95, "95"), (0.99, "99"))
        ),
        "From the gateway's histograms: the same percentiles for both backends, which "
        "TorchServe alone cannot give (it exports cumulative counters only).",
    ),
    Panel(
        "Gateway vs upstream time, p99",
        "s",
        (
            Query(_quantile(0.99, "tandem_gateway_request_duration_seconds"), "{{model}} gateway"),
            Query(
                _quantile(0.99, "tandem_gateway_upstream_duration_seconds"), "{{model}} upstream"
            ),
        ),
        "Whole request in the gateway against the backend call alone: the gap is the "
        "gateway's own cost (decode, validate, encode).",
    ),
    Panel(
        "Errors by status class",
        "reqps",
        (
            Query(
                "sum by (class) (label_replace(rate(tandem_gateway_requests_total{"
                f'{_GW}, status=~"[45].."}}{_RATE}), "class", "${{1}}xx", "status", "(.).."))',
                "{{class}}",
            ),
        ),
        "4xx: the caller's fault; 5xx: ours or a backend's.",
    ),
    Panel(
        "Errors by cause",
        "reqps",
        (
            Query(
                f"sum by (cause) (rate(tandem_gateway_errors_total{{{_GW}}}{_RATE}))",
                "{{cause}}",
            ),
        ),
        "client_error, not_found, backend_unavailable, timeout, circuit_open, model_not_ready, "
        "backend_error, rate_limited, overloaded.",
    ),
    Panel(
        "Requests shed by admission control",
        "reqps",
        (
            Query(
                'sum by (model, reason) (rate(tandem_gateway_shed_total{model=~"$model"}'
                f"{_RATE}))",
                "{{model}} {{reason}}",
            ),
        ),
        "Refused at once with 503 + Retry-After before reaching the backend: queue_full "
        "(the model's in-flight and waiting bounds are taken), deadline (the request's "
        "deadline passed while it waited).",
    ),
    Panel(
        "Circuit breaker open",
        "short",
        (
            Query(
                'max by (backend) (tandem_gateway_circuit_open{backend=~"$backend"})', "{{backend}}"
            ),
        ),
        "1 while the gateway fails a backend's requests fast (503) after consecutive failures.",
    ),
    Panel(
        "Model ready",
        "short",
        (Query(f"min by (model, backend) (tandem_gateway_model_ready{{{_GW}}})", "{{model}}"),),
        "1 while the model's default version answers on its backend.",
    ),
    Panel(
        "Requests in flight (gateway)",
        "short",
        (Query("sum(tandem_gateway_in_flight_requests)", "in flight"),),
        "Requests the gateway is serving now.",
    ),
    Panel(
        "TorchServe queue time per request",
        "ms",
        (
            Query(
                'sum by (model_name) (rate(ts_queue_latency_microseconds{model_name=~"$model"}'
                f"{_RATE})) / sum by (model_name) "
                f'(rate(ts_inference_requests_total{{model_name=~"$model"}}{_RATE})) / 1000',
                "{{model_name}}",
            ),
        ),
        "TorchServe's cumulative queue-latency counter as a rate ratio: mean time a request "
        "waited for a worker.",
    ),
    Panel(
        "TF Serving batching queue time per request",
        "s",
        (
            Query(
                f"sum(rate({_TFS_BATCHING}queuing_latency_sum{_RATE})) / "
                f"sum(rate({_TFS_BATCHING}queuing_latency_count{_RATE})) / 1e6",
                "mean queue time",
            ),
        ),
        "Mean time a request waited in the batching queue: TF Serving's own metric, which "
        "Tandem's compatible server exports under the same name.",
    ),
    Panel(
        "TF Serving batch size (mean rows per batch)",
        "short",
        (
            Query(
                f"sum(rate({_TFS_BATCHING}processed_batch_size_sum{_RATE})) / "
                f"sum(rate({_TFS_BATCHING}processed_batch_size_count{_RATE}))",
                "processed",
            ),
            Query(
                f"sum(rate({_TFS_BATCHING}input_batch_size_sum{_RATE})) / "
                f"sum(rate({_TFS_BATCHING}input_batch_size_count{_RATE}))",
                "per request",
            ),
        ),
        "Rows per executed batch, padding included, and rows per request.",
    ),
    Panel(
        "GPU utilisation (TorchServe)",
        "percent",
        (Query("max by (DeviceId, instance) (GPUUtilization)", "{{instance}} GPU {{DeviceId}}"),),
        "TorchServe's system metric; TF Serving reports no GPU figures.",
        gpu=True,
    ),
    Panel(
        "GPU memory used (TorchServe)",
        "percent",
        (
            Query(
                "max by (DeviceId, instance) (GPUMemoryUtilization)",
                "{{instance}} GPU {{DeviceId}}",
            ),
        ),
        "TorchServe's system metric.",
        gpu=True,
    ),
    Panel(
        "Twins: agreement of shadowed requests",
        "percentunit",
        (
            Query(
                'sum by (twin) (rate(tandem_twin_comparisons_total{result="agree"}'
                f"{_RATE})) / sum by (twin) (rate(tandem_twin_comparisons_total{{"
                f'result=~"agree|disagree"}}{_RATE}))',
                "{{twin}}",
            ),
            Query("max by (twin) (tandem_twin_agreement_objective)", "{{twin}} objective"),
        ),
        "Share of shadowed requests whose two variants answered alike (the twin's agreement "
        "rule), against its objective; the alert fires below it.",
        twin=True,
    ),
    Panel(
        "Twins: requests per second by variant",
        "reqps",
        (
            Query(
                f"sum by (twin, variant) (rate(tandem_twin_requests_total{_RATE}))",
                "{{twin}}: {{variant}}",
            ),
        ),
        "How the split, sticky callers and pinned requests spread a twin's traffic over "
        "its variants (shadow copies not included).",
        twin=True,
    ),
    Panel(
        "Twins: largest |difference| per output",
        "short",
        (
            Query(
                "histogram_quantile(0.99, sum by (twin, output, le) "
                f"(rate(tandem_twin_abs_diff_bucket{_RATE})))",
                "{{twin}} {{output}} p99",
            ),
            Query("max by (twin, output) (tandem_twin_max_abs_diff)", "{{twin}} {{output}} max"),
        ),
        "Element-wise |primary - shadow| of numeric outputs: p99 over the window, and the "
        "largest since the gateway started.",
        twin=True,
    ),
)


def _variable(name: str, label: str, query: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": f"{name}-var"},
        "definition": query,
        "refresh": 2,
        "includeAll": True,
        "allValue": ".*",
        "multi": True,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
    }


def _panel(index: int, panel: Panel) -> dict[str, Any]:
    width = 12
    return {
        "id": index + 1,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": width, "x": (index % 2) * width, "y": (index // 2) * 8},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "bottom", "showLegend": True}},
        "targets": [
            {
                "datasource": DATASOURCE,
                "expr": q.expr,
                "legendFormat": q.legend,
                "refId": chr(ord("A") + i),
            }
            for i, q in enumerate(panel.queries)
        ],
    }


def dashboard() -> dict[str, Any]:
    """The dashboard document (Grafana's JSON model, schema 39)."""
    return {
        "uid": UID,
        "title": TITLE,
        "tags": ["tandem", "serving"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "10s",
        "time": {"from": "now-30m", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Prometheus",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                },
                _variable("model", "model", "label_values(tandem_gateway_requests_total, model)"),
                _variable(
                    "backend", "backend", "label_values(tandem_gateway_requests_total, backend)"
                ),
            ]
        },
        "annotations": {"list": []},
        "panels": [_panel(i, p) for i, p in enumerate(PANELS)],
    }


def render() -> str:
    """The committed file's exact text."""
    return json.dumps(dashboard(), indent=2, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the dashboard file (``--check``: exit 1 when the committed one is stale)."""
    args = sys.argv[1:] if argv is None else argv
    path = DASHBOARD_FILE
    if "--check" in args:
        current = path.read_text() if path.exists() else ""
        return 0 if current == render() else 1
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render())
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
