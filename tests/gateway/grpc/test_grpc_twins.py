"""Twins over the gRPC front door: the same dataplane routing as REST, the pin in the same
metadata key, the answering variant in the trailing metadata, the twin's name in replies."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import grpc
import numpy as np
import pytest
from gateway_testkit import API_KEY, ROUTES

from gateway._pb import grpc_predict_v2_pb2 as v2
from gateway._pb import grpc_predict_v2_pb2_grpc as v2_grpc
from gateway.app import create_app
from gateway.route_table import RouteTable
from gateway.settings import GatewaySettings

tfs_predict = pytest.importorskip("tensorflow_serving.apis.predict_pb2")
tfs_service = pytest.importorskip("tensorflow_serving.apis.prediction_service_pb2_grpc")

pytestmark = pytest.mark.asyncio(loop_scope="session")
KEY = ("x-api-key", API_KEY)


@pytest.fixture
def route_table() -> RouteTable:
    doc = copy.deepcopy(ROUTES)
    doc["twins"] = {
        "digits": {
            "variants": {"digits_mlp_tf": {"weight": 0.5}, "digits_mlp_torch": {"weight": 0.5}},
            "default": "digits_mlp_tf",
        }
    }
    return RouteTable.model_validate(doc)


@pytest.fixture
async def channel(route_table, fakes, settings: GatewaySettings) -> AsyncIterator[Any]:
    app = create_app(
        settings.model_copy(update={"grpc_port": 0}), table=route_table, backends=fakes
    )
    async with app.router.lifespan_context(app):
        port = app.state.grpc_port  # bound once the lifespan started the server
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            yield ch


def _v2(model: str) -> Any:
    request = v2.ModelInferRequest(model_name=model)
    tensor = request.inputs.add(name="pixels", datatype="FP32", shape=[1, 64])
    tensor.contents.fp32_contents.extend(np.linspace(0, 1, 64, dtype=np.float32).tolist())
    return request


@pytest.mark.parametrize("variant", ["digits_mlp_tf", "digits_mlp_torch"])
async def test_oip_pin_and_answering_variant(channel, fakes, variant: str) -> None:
    stub = v2_grpc.GRPCInferenceServiceStub(channel)
    call = stub.ModelInfer(_v2("digits"), metadata=(KEY, ("x-tandem-variant", variant)), timeout=10)
    response = await call
    assert response.model_name == "digits"
    assert ("x-tandem-variant", variant) in tuple(await call.trailing_metadata())
    backend = "tfserving" if variant.endswith("_tf") else "torchserve"
    assert [c.route.upstream_name for c in fakes[backend].calls] == [variant]


async def test_sticky_caller_and_unknown_pin(channel) -> None:
    stub = v2_grpc.GRPCInferenceServiceStub(channel)
    seen = set()
    for _ in range(5):
        call = stub.ModelInfer(
            _v2("digits"), metadata=(KEY, ("x-tandem-sticky-key", "bob")), timeout=10
        )
        await call
        seen |= {v for k, v in tuple(await call.trailing_metadata()) if k == "x-tandem-variant"}
    assert len(seen) == 1
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.ModelInfer(_v2("digits"), metadata=(KEY, ("x-tandem-variant", "x")), timeout=10)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert "no variant 'x'" in (info.value.details() or "")


async def test_tf_serving_predict_answers_under_the_twin_name(channel) -> None:
    request = tfs_predict.PredictRequest()
    request.model_spec.name = "digits"
    proto = request.inputs["pixels"]
    proto.dtype = 1
    for size in (1, 64):
        proto.tensor_shape.dim.add(size=size)
    proto.tensor_content = np.zeros((1, 64), "<f4").tobytes()
    stub = tfs_service.PredictionServiceStub(channel)
    response = await stub.Predict(
        request, metadata=(KEY, ("x-tandem-variant", "digits_mlp_torch")), timeout=10
    )
    assert response.model_spec.name == "digits"
