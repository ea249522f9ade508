"""The inference routes (plain Starlette routes, ``gateway.routers.inference``): one
declaration each, served and documented from it, with the one authentication rule; the app
answers alike when mounted under a prefix."""

from __future__ import annotations

import httpx
import pytest
from gateway_testkit import API_KEY, pixels
from starlette.applications import Starlette
from starlette.routing import Mount

from gateway.app import create_app
from gateway.routers import v1, v2

V2_BODY = {
    "inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 64], "data": pixels(1)[0]}]
}

CASES = [
    ("/v1/models/digits_mlp_tf:predict", {"json": {"instances": pixels(2)}}, True),
    ("/v1/models/digits_mlp_tf/versions/2:predict", {"json": {"inputs": pixels(1)}}, True),
    ("/v1/models/digits_mlp_torch/labels/stable:predict", {"json": {"instances": pixels(1)}}, True),
    ("/v2/models/digits_mlp_torch/infer", {"json": V2_BODY}, True),
    ("/v2/models/digits_mlp_tf/versions/1/infer", {"json": V2_BODY}, True),
    ("/v1/models/digits_mlp_tf:predict", {"json": {"instances": pixels(1)}}, False),  # 401
    *(
        ("/v2/models/digits_mlp_tf/infer", {"json": V2_BODY, "headers": auth}, False)
        for auth in (
            {"X-API-Key": API_KEY},
            {"X-API-Key": ""},
            {"Authorization": f"bearer  {API_KEY} "},
            {"Authorization": f"Basic {API_KEY}", "X-API-Key": API_KEY},
            {"Authorization": f"Basic {API_KEY}"},
            {"Authorization": "Bearer wrong", "X-API-Key": API_KEY},
            {"Authorization": "Bearer"},
        )
    ),
    ("/v1/models/nope:predict", {"json": {"instances": pixels(1)}}, True),  # 404
    ("/v1/models/digits_mlp_tf/versions/x:predict", {"json": {"instances": [1]}}, True),  # 404
    ("/v1/models/digits_mlp_tf:predict", {"json": {"instances": [[1.0, 2.0]]}}, True),  # 400
    ("/v1/models/digits_mlp_tf:predict", {"content": b"{", "headers": {}}, True),  # 400
    (
        "/v2/models/digits_mlp_tf/infer",
        {"content": b"x", "headers": {"content-type": "text/plain"}},
        True,
    ),  # 415
]


async def test_every_operation_is_served_and_documented(client):
    spec = (await client.get("/openapi.json")).json()
    documented = {
        op["operationId"]: (path, method)
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
    }
    for op in (*v1.OPERATIONS, *v2.OPERATIONS):
        path, method = documented[op.operation_id]
        assert method == "post"
        assert path == op.path
        body = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        assert body["schema"]["$ref"].rsplit("/", 1)[1] in spec["components"]["schemas"]
        assert {"HTTPBearer", "APIKeyHeader"} <= set(spec["components"]["securitySchemes"])
    infer = spec["paths"]["/v2/models/{model}/infer"]["post"]
    assert "Inference-Header-Content-Length" in [p["name"] for p in infer["parameters"]]


async def test_get_on_an_inference_path_is_not_served(client):
    response = await client.get("/v1/models/digits_mlp_tf:predict")
    assert response.status_code in (404, 405)
    assert response.json()["error"]


@pytest.mark.parametrize(("path", "kwargs", "auth"), CASES)
async def test_mounted_and_direct_apps_answer_alike(
    route_table, fakes, settings, path, kwargs, auth
):
    app = create_app(settings, table=route_table, backends=fakes)
    mounted = Starlette(routes=[Mount("/prefix", app=app)])
    headers = {"X-Request-ID": "same-id", **kwargs.get("headers", {})}
    if auth:
        headers["Authorization"] = f"Bearer {API_KEY}"
    body = {k: v for k, v in kwargs.items() if k != "headers"}
    answers = []
    for target, prefix in ((app, ""), (mounted, "/prefix")):
        transport = httpx.ASGITransport(app=target)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            response = await client.post(prefix + path, headers=headers, **body)
        answers.append(
            (
                response.status_code,
                response.content,
                response.headers.get("content-type"),
                response.headers.get("x-request-id"),
            )
        )
    assert answers[0] == answers[1]
    assert answers[0][3] == "same-id"
    assert answers[0][2] == "application/json"
