"""The status page's data and access rules, in process (the browser test is test_ui_browser)."""

from __future__ import annotations

import re

import pytest
from monitoring_testkit import API_KEY

from gateway import errors
from gateway.errors import BackendUnavailable
from gateway.metrics import GatewayMetrics, error_cause
from gateway.status import StatusSampler, quantile

INF = float("inf")


def _v2(model: str, rows: int = 1, width: int = 64) -> dict[str, object]:
    name = "pixels" if "mlp" in model or "dynamic" in model else "image"
    shapes = {
        "digits_cnn_tf": [rows, 8, 8, 1],
        "digits_cnn_torch": [rows, 1, 8, 8],
    }
    shape = shapes.get(model, [rows, width])
    size = 1
    for d in shape:
        size *= d
    return {"inputs": [{"name": name, "datatype": "FP32", "shape": shape, "data": [0.0] * size}]}


async def test_page_is_one_self_contained_file(make_gateway) -> None:
    async with make_gateway() as c:
        r = await c.get("/ui")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    html = r.text
    assert "<script>" in html
    assert "<style>" in html
    # No CDN and no other file: every src/href is inline data or absent.
    assert re.findall(r'(?:src|href)="(?!data:)[^"]*"', html) == []
    assert "http://" not in html
    assert "https://" not in html
    assert "default-src 'none'" in r.headers["content-security-policy"]


async def test_status_is_open_on_loopback_in_development(make_gateway, demo_manifest) -> None:
    async with make_gateway() as c:
        r = await c.get("/ui/status")
    assert r.status_code == 200, r.text
    report = r.json()
    by_name = {m["name"]: m for m in report["models"]}
    assert sorted(by_name) == sorted(m.name for m in demo_manifest.models)
    for m in demo_manifest.models:
        row = by_name[m.name]
        assert row["framework"] == m.framework
        assert row["backend"] == ("tfserving" if m.framework == "tensorflow" else "torchserve")
        assert row["versions"] == m.served_versions
        assert row["labels"] == m.labels
        assert row["ready"] is True
        assert (row["requests"], row["errors"]) == (0, 0)
    assert {b["name"]: b["circuit"] for b in report["backends"]} == {
        "tfserving": "closed",
        "torchserve": "closed",
    }


@pytest.mark.parametrize(
    "overrides",
    [
        {"environment": "production"},
        {"host": "0.0.0.0"},
    ],
)
async def test_status_needs_a_key_elsewhere(make_gateway, demo_manifest, overrides) -> None:
    async with make_gateway(**overrides) as c:
        refused = await c.get("/ui/status")
        wrong = await c.get("/ui/status", headers={"X-API-Key": "wrong-key-0123456789abc"})
        page = await c.get("/ui")
        allowed = await c.get("/ui/status", headers={"X-API-Key": API_KEY})
    assert refused.status_code == 401
    assert refused.json() == {"error": "missing or invalid API key"}
    assert wrong.status_code == 401
    # The page itself carries no data: nothing about any model without a key.
    assert page.status_code == 200
    assert not any(m.name in page.text for m in demo_manifest.models)
    assert allowed.status_code == 200
    assert len(allowed.json()["models"]) == len(demo_manifest.models)


async def test_figures_and_recent_errors_follow_traffic(make_gateway, stand_ins) -> None:
    async with make_gateway(key=True) as c:
        await c.get("/ui/status")  # first snapshot: the window starts here
        for _ in range(5):
            ok = await c.post("/v2/models/digits_mlp_tf/infer", json=_v2("digits_mlp_tf"))
            assert ok.status_code == 200
        wrong_name = _v2("digits_mlp_tf")
        wrong_name["inputs"][0]["name"] = "not_an_input"  # type: ignore[index]
        bad = await c.post("/v2/models/digits_mlp_tf/infer", json=wrong_name)
        assert bad.status_code == 400
        stand_ins["torchserve"].fail_with = BackendUnavailable("connection refused")
        down = await c.post("/v2/models/digits_mlp_torch/infer", json=_v2("digits_mlp_torch"))
        assert down.status_code == 503
        report = (await c.get("/ui/status")).json()
        metrics = (await c.get("/metrics")).text

    tf = next(m for m in report["models"] if m["name"] == "digits_mlp_tf")
    torch = next(m for m in report["models"] if m["name"] == "digits_mlp_torch")
    assert (tf["requests"], tf["errors"]) == (6, 1)
    assert (torch["requests"], torch["errors"]) == (1, 1)
    assert report["window_s"] > 0
    assert tf["rps"] > 0
    assert tf["p50_ms"] is not None
    assert 0 < tf["p50_ms"] <= tf["p99_ms"]
    causes = [(e["model"], e["status"], e["cause"]) for e in report["recent_errors"]]
    assert causes == [  # newest first
        ("digits_mlp_torch", 503, "backend_unavailable"),
        ("digits_mlp_tf", 400, "client_error"),
    ]
    assert report["recent_errors"][0]["message"] == "connection refused"
    assert re.search(r"[0-9a-f]{32}", report["recent_errors"][0]["request_id"])
    assert (
        'tandem_gateway_errors_total{backend="torchserve",cause="backend_unavailable",'
        'model="digits_mlp_torch"} 1.0' in metrics
    )
    assert 'tandem_gateway_model_ready{backend="tfserving",model="digits_mlp_tf"} 1.0' in metrics


async def test_model_ready_gauge_follows_the_backend(
    make_gateway, stand_ins, demo_manifest
) -> None:
    stand_ins["tfserving"].ready_value = False
    async with make_gateway(key=True) as c:
        report = (await c.get("/ui/status")).json()
        metrics = (await c.get("/metrics")).text
    tf_backend = next(b for b in report["backends"] if b["name"] == "tfserving")
    tf_models = sum(m.framework == "tensorflow" for m in demo_manifest.models)
    assert (tf_backend["models_ready"], tf_backend["models"]) == (0, tf_models)
    assert 'tandem_gateway_model_ready{backend="tfserving",model="digits_cnn_tf"} 0.0' in metrics
    ts_ready = 'tandem_gateway_model_ready{backend="torchserve",model="digits_cnn_torch"} 1.0'
    assert ts_ready in metrics


@pytest.mark.parametrize(
    ("q", "cumulative", "expected"),
    [
        (0.5, [0, 0, 0, 0], None),  # empty
        (0.5, [0, 10, 10, 10], 0.0055),  # all in (0.001, 0.01]: the middle of that bucket
        (0.99, [10, 10, 10, 10], 0.000_99),  # first bucket interpolates from 0
        (0.5, [0, 0, 4, 8], 0.1),  # half lies above the top finite bound: that bound
        (0.25, [0, 0, 4, 8], 0.01 + (0.1 - 0.01) * 0.5),
    ],
)
def test_quantile_follows_histogram_quantile(q, cumulative, expected) -> None:
    bounds = (0.001, 0.01, 0.1, INF)
    got = quantile(q, bounds, [float(c) for c in cumulative])
    assert got == (pytest.approx(expected) if expected is not None else None)


def test_rates_cover_the_window_only() -> None:
    now = [1000.0]
    metrics = GatewayMetrics()
    sampler = StatusSampler(metrics, clock=lambda: now[0])

    def hit(n: int, seconds: float) -> None:
        for _ in range(n):
            metrics.observe(
                model="m", version="1", backend="b", protocol="v2", status=200, seconds=seconds
            )

    hit(100, 0.002)
    window, figures = sampler.figures()
    assert window == 0
    assert figures["m"].rps is None
    assert figures["m"].requests == 100
    now[0] += 10
    hit(50, 0.2)  # slow requests, in the window
    window, figures = sampler.figures()
    assert window == pytest.approx(10)
    assert figures["m"].rps == pytest.approx(5.0)
    assert figures["m"].requests == 150
    assert 100 < figures["m"].p50_ms <= 250  # only the window's slow requests count
    now[0] += 100  # past the window: only the last snapshot remains as the base
    window, figures = sampler.figures()
    assert window == pytest.approx(100)
    assert figures["m"].rps == 0
    assert figures["m"].p50_ms is None


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (errors.CircuitOpen("x"), "circuit_open"),
        (errors.ModelNotReady("x"), "model_not_ready"),
        (errors.BackendUnavailable("x"), "backend_unavailable"),
        (errors.UpstreamTimeout("x"), "timeout"),
        (errors.UpstreamError("x"), "backend_error"),
        (errors.RateLimited("x", 1.0), "rate_limited"),
        (errors.Unauthorized("x"), "unauthorized"),
        (errors.ModelNotFound("x"), "not_found"),
        (errors.VersionNotFound("x"), "not_found"),
        (errors.InvalidTensor("x"), "client_error"),
        (errors.UpstreamRejected("x"), "client_error"),
        (errors.PayloadTooLarge("x"), "client_error"),
        (errors.UnsupportedMediaType("x"), "client_error"),
        (errors.GatewayError("x"), "internal"),
        (RuntimeError("x"), "internal"),
    ],
)
def test_error_causes(error: BaseException, cause: str) -> None:
    assert error_cause(error) == cause
