"""Shared fixtures of the gateway tests: a route table, a failure-injecting fake backend
(the adapter interface at the process boundary) and in-process apps/clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from gateway_testkit import API_KEY, ROUTES, FakeBackend

from gateway.app import create_app
from gateway.route_table import RouteTable
from gateway.settings import GatewaySettings


@pytest.fixture
def route_table() -> RouteTable:
    return RouteTable.model_validate(ROUTES)


@pytest.fixture
def fakes() -> dict[str, FakeBackend]:
    return {"tfserving": FakeBackend("tfserving"), "torchserve": FakeBackend("torchserve")}


@pytest.fixture
def settings() -> GatewaySettings:
    return GatewaySettings(
        api_keys=[API_KEY],
        ready_cache_s=0.0,
        access_log=False,
        breaker_reset_s=0.2,
        breaker_failures=3,
    )


@pytest.fixture
def make_client(route_table, fakes) -> Callable[..., httpx.AsyncClient]:
    """Build an in-process client for an app with the given settings overrides."""

    def build(settings: GatewaySettings, *, auth: bool = True) -> httpx.AsyncClient:
        app = create_app(settings, table=route_table, backends=fakes)
        headers = {"Authorization": f"Bearer {API_KEY}"} if auth else {}
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://gateway",
            headers=headers,
            timeout=10.0,
        )

    return build


@pytest.fixture
async def client(make_client, settings) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(settings) as c:
        yield c
