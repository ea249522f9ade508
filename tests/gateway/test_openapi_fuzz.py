"""Schemathesis fuzzing of the OpenAPI document, in-process against the ASGI app with the
fake backend: whatever the input, the gateway never answers 500 (bounded example count)."""

from __future__ import annotations

import pytest
from gateway_testkit import API_KEY, ROUTES, FakeBackend
from hypothesis import HealthCheck, settings

from gateway.app import create_app
from gateway.route_table import RouteTable
from gateway.settings import GatewaySettings

schemathesis = pytest.importorskip("schemathesis")

APP = create_app(
    GatewaySettings(api_keys=[API_KEY], access_log=False, ready_cache_s=0.0),
    table=RouteTable.model_validate(ROUTES),
    backends={"tfserving": FakeBackend("tfserving"), "torchserve": FakeBackend("torchserve")},
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors(case):
    response = case.call(headers={"Authorization": f"Bearer {API_KEY}"})
    assert response.status_code != 500, (case.method, case.path, response.text[:300])
    content_type = str(response.headers.get("content-type", ""))
    if response.status_code >= 400 and "application/json" in content_type:
        assert isinstance(response.json().get("error"), str)
