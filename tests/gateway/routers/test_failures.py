"""Failure injection through the fake backend: timeouts, resets, 5xx, slow upstreams,
circuit breaker, shadow traffic that must not affect the response."""

from __future__ import annotations

import asyncio
import time

import pytest
from gateway_testkit import pixels

from gateway.errors import BackendUnavailable, UpstreamError, UpstreamTimeout

BODY = {"instances": [[0.1] * 64]}


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (UpstreamTimeout("timed out"), 504),
        (BackendUnavailable("connection reset", sent=True), 503),
        (BackendUnavailable("refused", sent=False), 503),
        (UpstreamError("HTTP 500"), 502),
    ],
)
async def test_backend_failures_map_to_status(client, fakes, error, status):
    fakes["tfserving"].fail_with, fakes["tfserving"].fail_times = error, -1
    response = await client.post("/v1/models/digits_mlp_tf:predict", json=BODY)
    assert response.status_code == status
    assert response.json()["error"]


async def test_connect_failure_is_retried_once(client, fakes):
    fake = fakes["torchserve"]
    fake.fail_with, fake.fail_times = BackendUnavailable("refused", sent=False), 1
    response = await client.post("/v1/models/digits_mlp_torch:predict", json=BODY)
    assert response.status_code == 200
    assert len(fake.calls) == 2


async def test_circuit_opens_then_recovers(client, fakes):
    fake = fakes["tfserving"]
    fake.fail_with, fake.fail_times = BackendUnavailable("down"), 3
    for _ in range(3):
        assert (await client.post("/v1/models/digits_mlp_tf:predict", json=BODY)).status_code == 503
    started = time.perf_counter()
    response = await client.post("/v1/models/digits_mlp_tf:predict", json=BODY)
    assert response.status_code == 503
    assert "circuit" in response.json()["error"]
    assert time.perf_counter() - started < 0.1
    assert len(fake.calls) == 3
    await asyncio.sleep(0.25)
    assert (await client.post("/v1/models/digits_mlp_tf:predict", json=BODY)).status_code == 200


async def test_slow_upstream_is_cut_by_the_route_timeout(make_client, settings, fakes):
    from gateway.backends.torchserve import TorchServeBackend  # noqa: F401  (real adapter exists)

    fakes["torchserve"].delay_s = 0.05
    async with make_client(settings) as client:
        response = await client.post("/v1/models/digits_mlp_torch:predict", json=BODY)
    assert response.status_code == 200


async def test_shadow_never_affects_response(make_client, settings, fakes, route_table):
    shadow_settings = settings.model_copy(update={"shadow_versions": {"digits_mlp_tf": 2}})
    fake = fakes["tfserving"]

    def slow_failing_shadow(call):
        if call.version == 2:
            raise RuntimeError("shadow blew up")

    fake.hook = slow_failing_shadow
    async with make_client(shadow_settings) as client:
        response = await client.post(
            "/v1/models/digits_mlp_tf:predict", json={"instances": pixels(1)}
        )
        assert response.status_code == 200
        await asyncio.sleep(0.01)
        metrics = (await client.get("/metrics")).text
    assert sorted(c.version for c in fake.calls) == [1, 2]
    assert 'tandem_gateway_shadow_requests_total{model="digits_mlp_tf",outcome="error"' in metrics


async def test_canary_settings_and_sticky_header(make_client, settings, fakes):
    canary = settings.model_copy(update={"canary_weights": {"digits_mlp_tf": {2: 0.5}}})
    async with make_client(canary) as client:
        for _ in range(2):
            for user in ("alice", "bob", "carol", "dave", "erin", "frank"):
                await client.post(
                    "/v1/models/digits_mlp_tf:predict",
                    json=BODY,
                    headers={"X-Tandem-Sticky-Key": user},
                )
    versions = [c.version for c in fakes["tfserving"].calls]
    assert versions[:6] == versions[6:]
    assert set(versions) == {1, 2}


@pytest.mark.parametrize(
    "path", ["/v1/models/digits_mlp_tf:predict", "/v2/models/digits_mlp_torch/infer"]
)
async def test_unexpected_error_on_an_inference_route_is_a_json_500(client, fakes, path):
    def boom(call):
        raise RuntimeError("bug")

    for fake in fakes.values():
        fake.hook = boom
    body = (
        BODY
        if path.startswith("/v1")
        else {
            "inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 64], "data": [0.1] * 64}]
        }
    )
    response = await client.post(path, json=body)
    assert response.status_code == 500
    assert response.json() == {"error": "internal server error"}
    assert response.headers["x-request-id"]
