"""Admission control through the gRPC front door: it shares the dataplane, so the request past
a model's bounds is refused at once (UNAVAILABLE, as the REST 503) without reaching the
backend. The fake backend holds requests until released; nothing here measures time."""

from __future__ import annotations

import asyncio
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

pytestmark = pytest.mark.asyncio(loop_scope="session")
KEY = (("x-api-key", API_KEY),)
MODEL = "digits_mlp_torch"
HANG_S = 10.0  # only catches a hang


def _request() -> Any:
    request = v2.ModelInferRequest(model_name=MODEL)
    tensor = request.inputs.add(name="pixels", datatype="FP32", shape=[1, 64])
    tensor.contents.fp32_contents.extend(np.zeros(64, np.float32).tolist())
    return request


@pytest.fixture
async def bounded(request, fakes, settings: GatewaySettings) -> AsyncIterator[tuple[Any, Any]]:
    max_queue, timeout_ms = getattr(request, "param", (0, 30_000))
    routes = copy.deepcopy(ROUTES)
    routes["models"][MODEL]["admission"] = {"max_in_flight": 1, "max_queue": max_queue}
    routes["models"][MODEL]["timeout_ms"] = timeout_ms
    fakes["torchserve"].gate = asyncio.Event()
    app = create_app(
        settings.model_copy(update={"grpc_port": 0}),
        table=RouteTable.model_validate(routes),
        backends=fakes,
    )
    async with app.router.lifespan_context(app):
        port = app.state.grpc_port
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield app, v2_grpc.GRPCInferenceServiceStub(channel)
    fakes["torchserve"].gate.set()


async def _hold_the_slot(stub: Any, fake: Any) -> asyncio.Future[Any]:
    """A first call, sent and held by the fake backend: it takes the model's one slot."""
    held = asyncio.ensure_future(stub.ModelInfer(_request(), metadata=KEY, timeout=HANG_S))
    async with asyncio.timeout(HANG_S):
        while not fake.calls:  # noqa: ASYNC110 - the fake records calls; no event to wait on
            await asyncio.sleep(0.005)
    return held


async def test_grpc_call_past_the_bound_is_unavailable_at_once(bounded, fakes) -> None:
    app, stub = bounded
    fake = fakes["torchserve"]
    held = await _hold_the_slot(stub, fake)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.ModelInfer(_request(), metadata=KEY, timeout=HANG_S)
    assert not fake.gate.is_set()  # answered while the backend still held the first call
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "at capacity" in (refused.value.details() or "")
    fake.gate.set()
    assert (await held).model_name == MODEL
    assert len(fake.calls) == 1
    shed = app.state.gateway.metrics.registry.get_sample_value(
        "tandem_gateway_shed_total", {"model": MODEL, "reason": "queue_full"}
    )
    assert shed == 1.0


@pytest.mark.parametrize("bounded", [(1, 200)], indirect=True)
async def test_grpc_call_whose_deadline_passes_waiting_is_deadline_exceeded(bounded, fakes) -> None:
    """The model's 200 ms timeout passes while the call waits for the slot the first call
    holds: it is shed without reaching the backend, as DEADLINE_EXCEEDED (which a client's
    retry policy does not retry), not UNAVAILABLE. The client's own deadline is 10 s, so the
    status is the gateway's."""
    app, stub = bounded
    fake = fakes["torchserve"]
    held = await _hold_the_slot(stub, fake)
    with pytest.raises(grpc.aio.AioRpcError) as waited:
        await stub.ModelInfer(_request(), metadata=KEY, timeout=HANG_S)
    assert waited.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert len(fake.calls) == 1  # never sent on
    shed = app.state.gateway.metrics.registry.get_sample_value(
        "tandem_gateway_shed_total", {"model": MODEL, "reason": "deadline"}
    )
    assert shed == 1.0
    with pytest.raises(grpc.aio.AioRpcError) as first:
        await held  # the held call itself ran out of the same 200 ms at the backend
    assert first.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
