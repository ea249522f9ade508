"""Admission control through the app: the request past a model's bounds is refused at once
with 503 + Retry-After, and a request whose deadline cannot be met never reaches the backend.

The fake backend holds every inference until the test releases it (a backend at capacity,
at the process boundary); no assertion depends on wall-clock time."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import httpx
import pytest
from gateway_testkit import API_KEY, ROUTES

from gateway.app import create_app
from gateway.route_table import RouteTable

BODY = {"instances": [[0.1] * 64]}
MODEL = "digits_mlp_torch"
PREDICT = f"/v1/models/{MODEL}:predict"
#: Only catches a hang; nothing here measures time.
HANG_S = 10.0


@pytest.fixture
def bounded_table() -> RouteTable:
    routes = copy.deepcopy(ROUTES)
    routes["models"][MODEL]["admission"] = {"max_in_flight": 1, "max_queue": 1}
    routes["models"][MODEL]["timeout_ms"] = 30_000  # the held request must not time out
    return RouteTable.model_validate(routes)


@pytest.fixture
async def gated(bounded_table, fakes, settings) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    fake = fakes["torchserve"]
    fake.gate = asyncio.Event()
    app = create_app(settings, table=bounded_table, backends=fakes)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://gateway",
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=HANG_S,
    ) as client:
        yield client, app
    fake.gate.set()


async def _until(check: Callable[[], bool]) -> None:
    """Poll the app's own state (no event to wait on there); the timeout only catches a hang."""
    async with asyncio.timeout(HANG_S):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.005)


def _spawn(coro: Coroutine[Any, Any, httpx.Response]) -> asyncio.Task[httpx.Response]:
    return asyncio.get_running_loop().create_task(coro)


async def test_request_past_the_bound_is_refused_at_once(gated, fakes):
    client, app = gated
    fake = fakes["torchserve"]
    gate = app.state.gateway.dataplane.admission(MODEL)
    first = _spawn(client.post(PREDICT, json=BODY))
    await _until(lambda: len(fake.calls) == 1)
    second = _spawn(client.post(PREDICT, json=BODY))
    await _until(lambda: gate.waiting == 1)

    # The backend still holds the first request: this answer cannot have waited for it.
    refused = await client.post(PREDICT, json=BODY)
    assert not fake.gate.is_set()
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["content-type"] == "application/json"
    assert "at capacity" in refused.json()["error"]

    fake.gate.set()
    assert [(await first).status_code, (await second).status_code] == [200, 200]
    assert len(fake.calls) == 2  # the refused one never reached the backend
    assert gate.in_flight == 0
    assert gate.waiting == 0

    metrics = (await client.get("/metrics")).text
    assert f'tandem_gateway_shed_total{{model="{MODEL}",reason="queue_full"}} 1.0' in metrics
    assert f'cause="overloaded",model="{MODEL}"' in metrics
    status = (await client.get("/ui/status")).json()
    row = next(m for m in status["models"] if m["name"] == MODEL)
    assert row["shed"] == 1
    assert row["max_in_flight"] == 1
    assert row["max_queue"] == 1


async def test_queued_request_whose_deadline_passes_is_not_sent_on(gated, fakes):
    client, app = gated
    fake = fakes["torchserve"]
    first = _spawn(client.post(PREDICT, json=BODY))
    await _until(lambda: len(fake.calls) == 1)

    late = await client.post(PREDICT, json=BODY, headers={"X-Request-Timeout": "0.05"})
    assert late.status_code == 503
    assert "retry-after" in late.headers
    assert "deadline" in late.json()["error"]

    fake.gate.set()
    assert (await first).status_code == 200
    assert len(fake.calls) == 1
    metrics = (await client.get("/metrics")).text
    assert f'tandem_gateway_shed_total{{model="{MODEL}",reason="deadline"}} 1.0' in metrics
    assert app.state.gateway.dataplane.admission(MODEL).in_flight == 0


@pytest.mark.parametrize("path", [PREDICT, f"/v2/models/{MODEL}/infer"])
async def test_request_already_past_its_deadline_is_not_sent(gated, fakes, path):
    client, _ = gated
    fakes["torchserve"].gate.set()
    body = (
        BODY
        if path == PREDICT
        else {
            "inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 64], "data": [0] * 64}]
        }
    )
    response = await client.post(path, json=body, headers={"X-Request-Timeout": "0"})
    assert response.status_code == 503
    assert fakes["torchserve"].calls == []


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "inf"])
async def test_bad_deadline_header_is_400(gated, fakes, value):
    client, _ = gated
    response = await client.post(PREDICT, json=BODY, headers={"X-Request-Timeout": value})
    assert response.status_code == 400
    assert "X-Request-Timeout" in response.json()["error"]
    assert fakes["torchserve"].calls == []


async def test_backend_gets_what_is_left_of_the_deadline(gated, fakes):
    client, _ = gated
    fakes["torchserve"].gate.set()
    response = await client.post(PREDICT, json=BODY, headers={"X-Request-Timeout": "2.5"})
    assert response.status_code == 200
    (call,) = fakes["torchserve"].calls
    assert 0 < call.timeout_s <= 2.5


async def test_rate_limit_stays_429(make_client, settings):
    limited = settings.model_copy(update={"rate_limit_per_s": 0.001, "rate_limit_burst": 1})
    async with make_client(limited) as client:
        assert (await client.post(PREDICT, json=BODY)).status_code == 200
        assert (await client.post(PREDICT, json=BODY)).status_code == 429
