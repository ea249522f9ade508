"""Liveness, readiness, metrics and OpenAPI."""

from __future__ import annotations

from gateway_testkit import pixels


async def test_healthz_and_readyz(client, fakes):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json()["ready"] is True
    fakes["torchserve"].ready_value = False
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["models"]["digits_mlp_torch"] is False


async def test_metrics(client):
    await client.post("/v1/models/digits_mlp_tf:predict", json={"instances": pixels(1)})
    await client.post("/v2/models/nope/infer", json={"inputs": []})
    text = (await client.get("/metrics")).text
    assert (
        'tandem_gateway_requests_total{backend="tfserving",model="digits_mlp_tf",'
        'protocol="v1",status="200",version="1"} 1.0'
    ) in text
    assert 'model="_unknown",protocol="v2",status="404"' in text
    assert "tandem_gateway_upstream_duration_seconds_bucket" in text
    assert "tandem_gateway_in_flight_requests" in text


async def test_openapi_has_stable_ids_and_examples(client):
    spec = (await client.get("/openapi.json")).json()
    ids = {op["operationId"] for path in spec["paths"].values() for op in path.values()}
    assert {"v1_predict", "v2_infer", "v2_infer_version", "ops_readyz", "v1_classify"} <= ids
    assert "examples" in spec["components"]["schemas"]["InferenceRequest"]
    assert (await client.get("/docs")).status_code == 200
