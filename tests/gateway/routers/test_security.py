"""API keys, rate limits, body limits and unsafe settings."""

from __future__ import annotations

import hashlib

import pytest
from gateway_testkit import API_KEY
from pydantic import ValidationError

from gateway.settings import GatewaySettings

BODY = {"instances": [[0.1] * 64]}


async def test_missing_and_wrong_key(make_client, settings):
    async with make_client(settings, auth=False) as client:
        assert (await client.post("/v1/models/digits_mlp_tf:predict", json=BODY)).status_code == 401
        response = await client.get("/v2/models/digits_mlp_tf", headers={"X-API-Key": "wrong"})
        assert response.status_code == 401
        response = await client.get("/v2/models/digits_mlp_tf", headers={"X-API-Key": API_KEY})
        assert response.status_code == 200
        assert (await client.get("/healthz")).status_code == 200


async def test_hashed_key_file(make_client, tmp_path):
    keys = tmp_path / "keys"
    keys.write_text(f"# comment\nsha256:{hashlib.sha256(API_KEY.encode()).hexdigest()}\n")
    async with make_client(GatewaySettings(api_keys_file=keys, access_log=False)) as client:
        assert (await client.get("/v2")).status_code == 200


async def test_rate_limit(make_client, settings):
    limited = settings.model_copy(update={"rate_limit_per_s": 1.0, "rate_limit_burst": 2})
    async with make_client(limited) as client:
        codes = [(await client.get("/v2")).status_code for _ in range(3)]
        response = await client.get("/v2")
    assert codes == [200, 200, 429]
    assert int(response.headers["retry-after"]) >= 1


async def test_body_limit(make_client, settings):
    small = settings.model_copy(update={"max_body_bytes": 2048})
    async with make_client(small) as client:
        response = await client.post(
            "/v1/models/digits_mlp_tf:predict",
            content=b"x" * 4096,
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 413

        async def chunks():
            for _ in range(4):
                yield b" " * 1024

        response = await client.post(
            "/v1/models/digits_mlp_tf:predict",
            content=chunks(),
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 413
        assert "limit" in response.json()["error"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"auth_disabled": True, "host": "0.0.0.0"},
        {"environment": "production", "api_keys": ["changeme"]},
    ],
)
def test_unsafe_settings_are_refused(kwargs):
    with pytest.raises(ValidationError):
        GatewaySettings(**kwargs)


def test_no_keys_refused(route_table, fakes):
    from gateway.app import create_app

    with pytest.raises(ValueError, match="no API keys"):
        create_app(GatewaySettings(), table=route_table, backends=fakes)


def test_env_settings(monkeypatch):
    monkeypatch.setenv("TANDEM_GATEWAY_API_KEYS", "k1-aaaaaaaaaaaaaaaa,k2-bbbbbbbbbbbbbbbb")
    monkeypatch.setenv("TANDEM_GATEWAY_PORT", "9001")
    settings = GatewaySettings()
    assert settings.port == 9001
    assert len(settings.api_keys) == 2
