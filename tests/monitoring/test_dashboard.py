"""The Grafana dashboard: the committed JSON is the generator's output, its layout and variables
are sound, and every query parses as PromQL (promtool loads each as a recording rule).
Whether each query returns data is checked live in test_monitoring_live."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml
from monitoring_testkit import REPO, concrete, tool

from tandem.monitoring.dashboard import DASHBOARD_FILE, PANELS, dashboard, render


def test_committed_dashboard_is_the_generated_one() -> None:
    committed = (REPO / DASHBOARD_FILE).read_text()
    assert committed == render(), "run: python -m tandem.monitoring.dashboard"
    assert json.loads(committed) == dashboard()


def test_variables_and_datasource() -> None:
    doc = dashboard()
    variables = {v["name"]: v for v in doc["templating"]["list"]}
    assert set(variables) == {"datasource", "model", "backend"}
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("model", "backend"):
        assert variables[name]["includeAll"] is True
        assert variables[name]["query"]["query"] == (
            f"label_values(tandem_gateway_requests_total, {name})"
        )
    for panel in doc["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"]


def test_layout_has_unique_ids_and_no_overlap() -> None:
    panels = dashboard()["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for p in panels:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24
        mine = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not cells & mine, p["title"]
        cells |= mine
        refs = [t["refId"] for t in p["targets"]]
        assert len(set(refs)) == len(refs)


def test_issue_panels_are_all_there() -> None:
    titles = " | ".join(p.title for p in PANELS).lower()
    for needed in (
        "requests per second",
        "p50 / p95 / p99",
        "gateway vs upstream",
        "status class",
        "by cause",
        "shed by admission",
        "circuit breaker",
        "torchserve queue",
        "tf serving batching queue",
        "batch size",
        "gpu utilisation",
        "gpu memory",
    ):
        assert needed in titles, needed


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    rules = [
        {"record": f"tandem:panel{p}_{q}", "expr": concrete(query.expr)}
        for p, panel in enumerate(PANELS)
        for q, query in enumerate(panel.queries)
    ]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = subprocess.run(
        [tool("promtool"), "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"{len(rules)} rules found" in checked.stdout
