"""`--monitoring` for real: Debian's Prometheus scraping the live stack (gateway, TF server,
TorchServe) with the generated config; after traffic, every non-GPU dashboard query returns
data and every alert rule evaluates cleanly."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from monitoring_testkit import concrete, send_traffic, tool

from tandem.monitoring.dashboard import PANELS
from tandem.stack.process import free_port, wait_for

pytestmark = pytest.mark.integration
_NEVER = "0001-01-01T00:00:00Z"  # Prometheus' lastEvaluation of a rule not evaluated yet


@pytest.fixture(scope="module")
def prometheus(live_stack) -> Iterator[Any]:
    """The stack's Prometheus service (as `tandem up --monitoring` starts it) on a free port."""
    from tandem.monitoring.server import Prometheus

    tool("prometheus")
    stack = live_stack.stack
    service = Prometheus(live_stack.manifest, stack.layout, port=free_port())
    stack.prometheus = service
    stack.start_service(service, timeout=60)
    try:
        yield service
    finally:
        stack.stop_service(service)
        stack.prometheus = None


def _query(prom: Any, expr: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{prom.url}/api/v1/query", params={"query": expr}, timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def _all_targets_up(prom: Any) -> bool:
    health = prom.targets()
    return bool(health) and all(h == "up" for h in health.values())


def test_all_three_targets_are_up(prometheus) -> None:
    wait_for(lambda: _all_targets_up(prometheus), timeout=30, what="prometheus targets", interval=1)
    assert prometheus.targets() == {"gateway": "up", "tfserving": "up", "torchserve": "up"}


def test_every_non_gpu_panel_returns_data_after_traffic(live_stack, prometheus) -> None:
    wait_for(lambda: _all_targets_up(prometheus), timeout=30, what="prometheus targets", interval=1)
    official = live_stack.stack.backend("tfserving").official is not None
    expected = [
        (panel, query)
        for panel in PANELS
        if not panel.gpu and not panel.twin
        for query in panel.queries
        if query.tf_server is None or (query.tf_server == "official") == official
    ]
    p99_expr = concrete(next(p for p in PANELS if "p50 / p95" in p.title).queries[2].expr)
    models = {m.name for m in live_stack.manifest.models}

    def p99s() -> dict[str, float]:
        return {s["metric"]["model"]: float(s["value"][1]) for s in _query(prometheus, p99_expr)}

    # A loaded stack: rounds of real traffic (bounded: at most 20 rounds, 60 s) until every
    # query answers; rate() needs a series to grow between two scrapes (5 s apart).
    empty: list[str] = []
    latencies: dict[str, float] = {}
    deadline = time.monotonic() + 60
    for _ in range(20):
        counts = send_traffic(live_stack, rounds=2)
        assert counts == {"200": 2 * len(models), "400": len(models)}
        time.sleep(1)
        empty = [
            f"{panel.title}: {query.expr}"
            for panel, query in expected
            if not _query(prometheus, concrete(query.expr))
        ]
        latencies = p99s()
        if not empty and all(latencies.get(m, 0) > 0 for m in models):
            break
        if time.monotonic() > deadline:
            break
    assert empty == []
    assert all(latencies.get(m, 0) > 0 for m in models), latencies
    causes = _query(prometheus, "sum by (cause) (tandem_gateway_errors_total)")
    assert {s["metric"]["cause"] for s in causes} >= {"client_error"}


def test_alert_rules_are_loaded_and_evaluate(prometheus, live_stack) -> None:
    def evaluated() -> bool:
        r = httpx.get(f"{prometheus.url}/api/v1/rules", timeout=10).json()
        rules = [rule for g in r["data"]["groups"] for rule in g["rules"]]
        return bool(rules) and all(rule.get("lastEvaluation", _NEVER) != _NEVER for rule in rules)

    wait_for(evaluated, timeout=30, what="rule evaluation", interval=1)
    groups = httpx.get(f"{prometheus.url}/api/v1/rules", timeout=10).json()["data"]["groups"]
    expected = {"tandem.models", "tandem.services"}
    if live_stack.manifest.twins:
        expected.add("tandem.twins")
    assert {g["name"] for g in groups} == expected
    rules = [rule for g in groups for rule in g["rules"]]
    assert [r["name"] for r in rules if r["health"] != "ok"] == []
    firing = [r["name"] for r in rules if r["state"] == "firing"]
    assert firing == []  # a healthy stack alerts on nothing
