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
