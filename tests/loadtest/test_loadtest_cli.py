"""`tandem loadtest` end to end against local delay servers standing in for the stack: the
route table of a build directory points both backends and the gateway at them."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tandem.cli import app


def _build(tmp_path: Path, tf: str, ts: str) -> Path:
    spec = {
        "framework": "x",
        "versions": [1],
        "default_version": 1,
        "inputs": [{"name": "pixels", "dtype": "float32", "shape": [-1, 64]}],
        "outputs": [{"name": "label", "dtype": "int64", "shape": [-1]}],
    }
    routes = {
        "schema_version": 1,
        "backends": {
            "tfserving": {"kind": "tfserving", "rest_url": tf},
            "torchserve": {"kind": "torchserve", "rest_url": ts},
        },
        "models": {
            "m_tf": {**spec, "backend": "tfserving", "upstream_name": "m_tf"},
            "m_torch": {**spec, "backend": "torchserve", "upstream_name": "m_torch"},
            "big_tf": {
                **spec,
                "backend": "tfserving",
                "upstream_name": "big_tf",
                "inputs": [{"name": "image", "dtype": "float32", "shape": [-1, 224, 224, 3]}],
            },
        },
        "twins": {"m": {"variants": {"m_tf": {}, "m_torch": {}}, "default": "m_tf"}},
    }
    build = tmp_path / "build"
    (build / "config").mkdir(parents=True)
    (build / "config" / "routes.json").write_text(json.dumps(routes))
    return build


def test_loadtest_writes_every_report_for_both_backends_direct_and_gateway(
    delay_server, tmp_path
) -> None:
    tf, ts, gw = delay_server(delay_ms=2), delay_server(delay_ms=4), delay_server(delay_ms=5)
    build = _build(tmp_path, tf, ts)
    out = tmp_path / "report"
    args = [
        "loadtest", "--quick", "--build", str(build), "--manifest", str(tmp_path / "none.yaml"),
        "--gateway", gw, "--out", str(out), "--window-s", "0.2", "--max-windows", "3",
        "--paths", "direct-rest,direct-grpc,gateway-v1,gateway-v2-binary",
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "generator ceiling" in result.output
    doc = json.loads((out / "report.json").read_text())
    seen = {(p["model"], p["path"]) for p in doc["points"]}
    # No gRPC endpoint in this route table: those targets are skipped, not failed.
    assert seen == {
        ("m_tf", "direct-rest"),
        ("m_tf", "gateway-v1"),
        ("m_tf", "gateway-v2-binary"),
        ("m_torch", "direct-rest"),
        ("m_torch", "gateway-v1"),
        ("m_torch", "gateway-v2-binary"),
        ("big_tf", "gateway-v2-binary"),
    }
    assert all(p["errors"] == {} for p in doc["points"])
    assert doc["meta"]["generator_ceiling_rps"] > 0
    assert {b["backend"] for b in doc["comparisons"]["backends"]} == {"tfserving", "torchserve"}
    for name in ("report.md", "report.html", "points.csv", "series.csv"):
        assert (out / name).stat().st_size > 0


def test_loadtest_refuses_bad_input_with_one_line(tmp_path) -> None:
    build = _build(tmp_path, "http://127.0.0.1:1", "http://10.1.2.3:8080")
    runner = CliRunner()
    remote = runner.invoke(app, ["loadtest", "--build", str(build), "--out", str(tmp_path)])
    assert remote.exit_code != 0
    assert "non-loopback" in remote.output
    base = ["loadtest", "--build", str(build), "--torchserve-rest", "http://127.0.0.1:2"]
    bad = runner.invoke(app, [*base, "--concurrency", "two"])
    assert bad.exit_code != 0
    assert "numbers" in bad.output
    unknown = runner.invoke(app, [*base, "--models", "nope"])
    assert "unknown model" in unknown.output
    no_twin = runner.invoke(app, [*base, "--twin", "nope"])
    assert "no twin 'nope'" in no_twin.output
    both = runner.invoke(app, [*base, "--twin", "m", "--models", "m_tf"])
    assert "exclusive" in both.output
    missing = runner.invoke(app, ["loadtest", "--build", str(tmp_path / "nothing")])
    assert "routes.json not found" in missing.output


def test_loadtest_twin_compares_its_variants(delay_server, tmp_path) -> None:
    tf, ts, gw = delay_server(delay_ms=2), delay_server(delay_ms=4), delay_server(delay_ms=5)
    build = _build(tmp_path, tf, ts)
    out = tmp_path / "report"
    args = [
        "loadtest", "--quick", "--build", str(build), "--manifest", str(tmp_path / "none.yaml"),
        "--gateway", gw, "--out", str(out), "--window-s", "0.2", "--max-windows", "3",
        "--paths", "gateway-v1", "--twin", "m", "--no-calibrate",
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "report.json").read_text())
    assert {p["model"] for p in doc["points"]} == {"m_tf", "m_torch"}  # not big_tf
    assert all(p["errors"] == {} for p in doc["points"])
    assert all(p["throughput_rps"] > 0 and p["latency_ms"]["p50"] > 0 for p in doc["points"])
    # Server CPU per request, per process tree (the delay servers stand in for the backends
    # and the gateway): each point answered by its backend and the gateway path.
    assert set(doc["meta"]["server_processes"]) == {"gateway", "tfserving", "torchserve"}
    for p in doc["points"]:
        cpu = p["server_cpu_ms_per_request"]
        assert set(cpu) == {"gateway", "tfserving", "torchserve"}
        assert all(v >= 0 for v in cpu.values())
    twin = doc["comparisons"]["twin"]
    assert twin["name"] == "m"
    assert twin["variants"] == ["m_tf", "m_torch"]
    # The quick profile's gateway-v1 loads, both variants at each, side by side.
    loads = sorted({r["load"] for r in twin["rows"]})
    assert loads == [1, 8, 32]
    assert [r["variant"] for r in twin["rows"]] == ["m_tf", "m_torch"] * 3
    for row in twin["rows"]:
        point = next(
            p
            for p in doc["points"]
            if p["model"] == row["variant"] and p["concurrency"] == row["load"]
        )
        assert row["throughput_rps"] == point["throughput_rps"]
        assert (
            row["backend_cpu_ms_per_request"] == point["server_cpu_ms_per_request"][row["backend"]]
        )
        assert row["gateway_cpu_ms_per_request"] == point["server_cpu_ms_per_request"]["gateway"]
    # The delay servers do work per request: the gateway stand-in answered every one.
    assert sum(r["gateway_cpu_ms_per_request"] for r in twin["rows"]) > 0
    md = (out / "report.md").read_text()
    assert "## Twin m: m_tf vs m_torch" in md
    assert "backend CPU ms/req" in md
