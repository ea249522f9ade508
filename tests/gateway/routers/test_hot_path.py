"""The lean inference path answers exactly as the FastAPI endpoints it stands in for.

The same app is reached twice: directly (``HotPath`` serves ``:predict``/``/infer``) and
mounted under a prefix, where ``HotPath`` steps aside and FastAPI routes the request.
"""

from __future__ import annotations

import httpx
import pytest
from gateway_testkit import API_KEY, pixels
from starlette.applications import Starlette
from starlette.routing import Mount

from gateway.app import create_app
from gateway.routers import v1, v2
from gateway.routers.hot import HotPath, hot_routes

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


def test_every_hot_handler_finds_its_route(route_table, fakes, settings):
    app = create_app(settings, table=route_table, backends=fakes)
    routes = hot_routes(app, {**v1.HOT_HANDLERS, **v2.HOT_HANDLERS})
    assert len(routes) == 5
    with pytest.raises(ValueError, match="no route"):
        hot_routes(app, {"no_such_operation": v1.serve_predict})


@pytest.mark.parametrize(("path", "kwargs", "auth"), CASES)
async def test_lean_and_fastapi_paths_answer_alike(
    route_table, fakes, settings, monkeypatch, path, kwargs, auth
):
    served = []
    lean = HotPath._serve

    async def counting(*args):
        served.append(args[0])
        await lean(*args)

    monkeypatch.setattr(HotPath, "_serve", staticmethod(counting))
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
    assert len(served) == 1  # the direct call only; the mounted one went through FastAPI
    assert answers[0] == answers[1]
    assert answers[0][3] == "same-id"
