"""The report files, from points measured against local delay servers."""

from __future__ import annotations

import csv
import json
import re

import pytest

from tandem.loadtest.clients import http_client
from tandem.loadtest.engine import Budget, closed_loop, open_loop
from tandem.loadtest.report import write_report

FAST = Budget(warmup_s=0.1, window_s=0.3, max_windows=3, request_timeout_s=5)


async def _points(delay_server):
    slow, fast = delay_server(delay_ms=8), delay_server(delay_ms=2)
    points = []
    for base, model, backend, path in (
        (fast, "m_tf", "tfserving", "direct-rest"),
        (slow, "m_tf", "tfserving", "gateway-v1"),
        (fast, "m_torch", "torchserve", "direct-rest"),
        (slow, "big", "torchserve", "gateway-v2-json"),
        (fast, "big", "torchserve", "gateway-v2-binary"),
    ):
        client = http_client(base + "/", b"{}", {}, 5)
        labels = {"model": model, "backend": backend, "path": path}
        for c in (1, 4):
            r = await closed_loop(client.send, c, FAST, f"{model} {path}", labels)
            points.append(r.to_dict())
        if path == "direct-rest" and backend == "tfserving":
            r = await open_loop(client.send, 50, FAST, "poisson", f"{model} {path}", labels=labels)
            points.append(r.to_dict())
        await client.aclose()
    return points


async def test_report_files_hold_every_point_and_the_comparisons(delay_server, tmp_path) -> None:
    points = await _points(delay_server)
    written = write_report(tmp_path, {"profile": "test", "date": "now"}, points)
    assert {p.name for p in written} == {
        "report.json",
        "report.md",
        "report.html",
        "points.csv",
        "series.csv",
    }
    doc = json.loads((tmp_path / "report.json").read_text())
    assert len(doc["points"]) == len(points) == 11
    comp = doc["comparisons"]
    (gvd,) = comp["gateway_vs_direct"]
    # The comparisons are derived from the points' own figures (how fast the two timed
    # servers were on this machine is not asserted: a busy machine moves it).
    at = {(p["model"], p["path"], p["concurrency"]): p for p in points if p["mode"] == "closed"}
    direct1, via1 = at[("m_tf", "direct-rest", 1)], at[("m_tf", "gateway-v1", 1)]
    expected = via1["latency_ms"]["p50"] - direct1["latency_ms"]["p50"]
    assert gvd["by_concurrency"][0]["added_p50_ms"] == pytest.approx(expected, abs=0.01)
    best_d = max(at[("m_tf", "direct-rest", c)]["throughput_rps"] for c in (1, 4))
    best_g = max(at[("m_tf", "gateway-v1", c)]["throughput_rps"] for c in (1, 4))
    assert gvd["throughput_ratio"] == pytest.approx(best_g / best_d, abs=0.001)
    assert {r["concurrency"] for r in comp["json_vs_binary"]} == {1, 4}
    for r in comp["json_vs_binary"]:
        j, b = (
            at[("big", "gateway-v2-json", r["concurrency"])],
            at[("big", "gateway-v2-binary", r["concurrency"])],
        )
        assert r["binary_speedup"] == pytest.approx(
            b["throughput_rps"] / j["throughput_rps"], abs=0.01
        )
    assert {b["backend"] for b in comp["backends"]} == {"tfserving", "torchserve"}

    md = (tmp_path / "report.md").read_text()
    assert "## Through the gateway vs direct" in md
    assert "## v2 JSON vs binary" in md
    assert md.count("\n| m_tf | direct-rest |") == 3

    page = (tmp_path / "report.html").read_text()
    assert page.count("<svg") == 4
    # Self-contained: no script, no stylesheet or image fetched from anywhere.
    assert "<script" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "m_torch direct-rest" in page  # both backends on the latency/throughput chart

    with (tmp_path / "points.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 11
    assert float(rows[0]["latency_p50_ms"]) > 0
    with (tmp_path / "series.csv").open() as f:
        assert len(list(csv.DictReader(f))) >= 11
