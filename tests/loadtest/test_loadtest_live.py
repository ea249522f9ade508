"""`tandem loadtest` against the real demo stack (TF server, TorchServe, gateway on free
loopback ports): every path of both backends answers the load with 200s, and the report
holds each comparison."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tandem.cli import app

pytestmark = pytest.mark.integration


def test_short_sweep_over_every_path_of_both_backends(live_stack, tmp_path) -> None:
    port = live_stack.manifest.data.servers.gateway.port
    out = tmp_path / "report"
    args = [
        "loadtest", "--build", str(live_stack.out), "--gateway", f"http://127.0.0.1:{port}",
        "--gateway-grpc", live_stack.gateway_grpc,
        "--models", "digits_mlp_tf,digits_mlp_torch,digits_cnn224_tf,digits_cnn224_torch",
        "--concurrency", "2", "--window-s", "0.3", "--max-windows", "3", "--out", str(out),
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "report.json").read_text())
    seen = {(p["model"], p["path"]) for p in doc["points"]}
    for model in ("digits_mlp_tf", "digits_mlp_torch"):
        for path in ("direct-rest", "direct-grpc", "gateway-v1", "gateway-v2-json",
                     "gateway-v2-binary", "gateway-grpc-v2", "gateway-grpc-tfs"):  # fmt: skip
            assert (model, path) in seen
    for model in ("digits_cnn224_tf", "digits_cnn224_torch"):
        assert {(model, "gateway-v2-json"), (model, "gateway-v2-binary"),
                (model, "gateway-grpc-v2"), (model, "gateway-grpc-tfs")} <= seen  # fmt: skip
    for point in doc["points"]:
        assert point["errors"] == {}, point["target"]
        assert point["requests_ok"] > 0, point["target"]
    comp = doc["comparisons"]
    assert {g["model"] for g in comp["gateway_vs_direct"]} == {"digits_mlp_tf", "digits_mlp_torch"}
    assert {r["model"] for r in comp["json_vs_binary"]} >= {
        "digits_cnn224_tf",
        "digits_cnn224_torch",
    }
    assert all(r["grpc_v2_rps"] and r["grpc_tfs_rps"] for r in comp["json_vs_binary"])
    assert "<svg" in (out / "report.html").read_text()


def test_twin_run_compares_both_builds_with_server_cpu(live_stack, tmp_path, record_property):
    port = live_stack.manifest.data.servers.gateway.port
    out = tmp_path / "twin"
    args = [
        "loadtest", "--build", str(live_stack.out), "--gateway", f"http://127.0.0.1:{port}",
        "--twin", "digits_mlp", "--paths", "direct-rest,gateway-v1", "--concurrency", "4",
        "--window-s", "0.5", "--max-windows", "4", "--no-calibrate", "--out", str(out),
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "report.json").read_text())
    # The real servers' processes (TorchServe with its workers), found by their ports.
    assert set(doc["meta"]["server_processes"]) == {"gateway", "tfserving", "torchserve"}
    rows = doc["comparisons"]["twin"]["rows"]
    assert [(r["path"], r["variant"]) for r in rows] == [
        ("direct-rest", "digits_mlp_tf"), ("direct-rest", "digits_mlp_torch"),
        ("gateway-v1", "digits_mlp_tf"), ("gateway-v1", "digits_mlp_torch"),
    ]  # fmt: skip
    for r in rows:
        assert r["errors"] == 0
        assert r["throughput_rps"] > 0
        # Every request costs its backend some CPU; CPU time is counted in clock ticks, so
        # a point of a few hundred requests always shows some.
        assert r["backend_cpu_ms_per_request"] > 0, r
        assert (r["gateway_cpu_ms_per_request"] is None) == (r["path"] == "direct-rest")
        label = f"{r['path']} {r['variant']}"
        record_property(f"{label} req/s", r["throughput_rps"])
        record_property(f"{label} p50 ms", r["p50_ms"])
        record_property(f"{label} backend CPU ms/req", r["backend_cpu_ms_per_request"])
        record_property(f"{label} gateway CPU ms/req", r["gateway_cpu_ms_per_request"])
    record_property("load average", doc["meta"]["load_average_1_5_15"])
    assert (
        "## Twin digits_mlp: digits_mlp_tf vs digits_mlp_torch" in (out / "report.md").read_text()
    )
