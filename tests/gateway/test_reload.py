"""The route file is reloaded without a restart; unpinned requests leave the version to the
backend. The adapters are the failure-injecting fakes; the file, the watcher and the app are
real."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_testkit import API_KEY, ROUTES, FakeBackend, predict_digits

from gateway.app import create_app
from gateway.backends.base import InferResult
from gateway.reload import RouteReloader
from gateway.route_table import RouteTable, load_route_table
from gateway.settings import GatewaySettings

BODY = {"instances": [[0.5] * 64]}


def _routes(torch_versions: list[int]) -> dict[str, Any]:
    doc = copy.deepcopy(ROUTES)
    doc["models"]["digits_mlp_torch"]["versions"] = torch_versions
    doc["models"]["digits_mlp_torch"]["default_version"] = max(torch_versions)
    doc["models"]["digits_mlp_torch"]["labels"] = {"stable": max(torch_versions)}
    return doc


def _write(path: Path, doc: dict[str, Any] | str, *, bump_s: float = 0.0) -> None:
    """Replace the file atomically, as ``tandem rollout`` does; ``bump_s`` moves its mtime
    on, so a rewrite within the file system's time resolution still reads as a change."""
    tmp = path.with_name(".routes.tmp")
    tmp.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    if bump_s:
        st = os.stat(path)
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns + int(bump_s * 1e9)))
    os.replace(tmp, path)


@pytest.fixture
def routes_file(tmp_path: Path) -> Path:
    path = tmp_path / "routes.json"
    path.write_text(json.dumps(_routes([1])))
    return path


def _reloader(path: Path) -> tuple[RouteReloader, list[RouteTable]]:
    applied: list[RouteTable] = []
    return RouteReloader(path, 1.0, applied.append), applied


def test_valid_change_is_applied(routes_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    reloader, applied = _reloader(routes_file)
    _write(routes_file, _routes([1, 2]), bump_s=1)
    with caplog.at_level(logging.INFO, logger="gateway.reload"):
        assert reloader.check() is True
    assert [t.models["digits_mlp_torch"].versions for t in applied] == [(1, 2)]
    assert applied[0].models["digits_mlp_torch"].default_version == 2
    assert reloader.reloads == 1
    assert "route table reloaded" in caplog.text


def test_unchanged_file_is_not_reloaded(routes_file: Path) -> None:
    reloader, applied = _reloader(routes_file)
    for _ in range(3):
        assert reloader.check() is False
    assert applied == []
    # Once a change has been applied, the same file is not applied again.
    _write(routes_file, _routes([1, 2]), bump_s=1)
    assert reloader.check() is True
    assert reloader.check() is False
    assert len(applied) == 1


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        ("{not json", "Invalid JSON"),
        (json.dumps({**_routes([1]), "schema_version": 2}), "schema_version"),
        (
            json.dumps(
                {
                    **_routes([1]),
                    "models": {
                        "m": {**_routes([1])["models"]["digits_mlp_torch"], "default_version": 3}
                    },
                }
            ),
            "default_version 3 not in versions",
        ),
    ],
)
def test_invalid_file_keeps_the_old_table_and_logs_one_error(
    routes_file: Path, caplog: pytest.LogCaptureFixture, bad: str, fragment: str
) -> None:
    reloader, applied = _reloader(routes_file)
    _write(routes_file, bad, bump_s=1)
    with caplog.at_level(logging.INFO, logger="gateway.reload"):
        assert reloader.check() is False
        assert reloader.check() is False  # the same bad file: no second error
    assert applied == []
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1, caplog.text
    assert "keeping the current table" in errors[0].getMessage()
    assert fragment in errors[0].getMessage()
    # A fixed file is picked up afterwards.
    _write(routes_file, _routes([1, 2]), bump_s=2)
    assert reloader.check() is True
    assert reloader.errors == 1
    assert len(applied) == 1


def test_missing_file_keeps_the_old_table(routes_file: Path) -> None:
    reloader, applied = _reloader(routes_file)
    routes_file.unlink()
    assert reloader.check() is False
    assert applied == []


async def _until(condition: Callable[[], bool]) -> None:
    """Return once ``condition`` holds, or after 5 s (the caller's assert then fails)."""
    for _ in range(250):
        if condition():
            return
        await asyncio.sleep(0.02)


async def _models(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.get("/v1/models")
    assert r.status_code == 200, r.text
    return {m["name"]: m for m in r.json()["models"]}


async def test_app_swaps_the_table_in_without_a_restart(routes_file: Path) -> None:
    """The lifespan's watcher polls the file; a new version is listed and served, a request in
    flight during the swap finishes on the old route, a bad file changes nothing."""
    fakes = {"tfserving": FakeBackend("tfserving"), "torchserve": FakeBackend("torchserve")}
    settings = GatewaySettings(
        api_keys=[API_KEY],
        routes_file=routes_file,
        routes_reload_s=0.05,
        ready_cache_s=0.0,
        access_log=False,
    )
    app = create_app(settings, backends=fakes)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=transport, base_url="http://gateway", headers=headers, timeout=10
        ) as client,
    ):
        assert (await _models(client))["digits_mlp_torch"]["versions"] == [1]
        r = await client.post("/v1/models/digits_mlp_torch/versions/2:predict", json=BODY)
        assert r.status_code == 404

        fakes["torchserve"].delay_s = 0.5
        in_flight = asyncio.create_task(
            client.post("/v1/models/digits_mlp_torch:predict", json=BODY)
        )
        await asyncio.sleep(0.1)
        _write(routes_file, _routes([1, 2]), bump_s=1)
        await _until(lambda: app.state.reloader.reloads > 0)
        assert app.state.reloader.reloads == 1
        assert (await in_flight).status_code == 200
        assert fakes["torchserve"].calls[-1].route.default_version == 1  # the old route
        fakes["torchserve"].delay_s = 0.0

        listed = (await _models(client))["digits_mlp_torch"]
        assert listed["versions"] == [1, 2]
        assert listed["default_version"] == 2
        r = await client.post("/v1/models/digits_mlp_torch:predict", json=BODY)
        assert r.status_code == 200
        r = await client.post("/v1/models/digits_mlp_torch/versions/2:predict", json=BODY)
        assert r.status_code == 200
        assert fakes["torchserve"].calls[-1].version == 2

        _write(routes_file, "{broken", bump_s=2)
        await _until(lambda: app.state.reloader.errors > 0)
        assert app.state.reloader.errors == 1
        assert (await _models(client))["digits_mlp_torch"]["versions"] == [1, 2]
    assert app.state.reloader._task is None  # stopped with the lifespan


async def test_changed_backend_address_gets_a_new_adapter(routes_file: Path) -> None:
    """A moved backend gets a fresh adapter; the replaced one is closed, not leaked."""
    settings = GatewaySettings(
        api_keys=[API_KEY], routes_file=routes_file, routes_reload_s=0.05, max_timeout_ms=100
    )
    app = create_app(settings)
    dataplane = app.state.gateway.dataplane
    async with app.router.lifespan_context(app):
        before = dict(dataplane.backends)
        doc = _routes([1])
        doc["backends"]["torchserve"]["rest_url"] = "http://127.0.0.1:2"
        _write(routes_file, doc, bump_s=1)
        assert app.state.reloader.check() is True
        assert dataplane.backends["tfserving"] is before["tfserving"]
        assert dataplane.backends["torchserve"] is not before["torchserve"]
        assert dataplane.table == load_route_table(routes_file)


async def test_injected_adapters_refuse_a_new_backend(routes_file: Path) -> None:
    fakes = {"tfserving": FakeBackend("tfserving"), "torchserve": FakeBackend("torchserve")}
    settings = GatewaySettings(api_keys=[API_KEY], routes_file=routes_file, routes_reload_s=0.05)
    app = create_app(settings, backends=fakes)
    doc = _routes([1])
    doc["backends"]["other"] = {"kind": "tfserving", "rest_url": "http://127.0.0.1:3"}
    _write(routes_file, doc, bump_s=1)
    async with app.router.lifespan_context(app):
        assert app.state.reloader.check() is False
        assert "other" not in app.state.gateway.dataplane.table.backends


# -- unpinned requests leave the version to the backend ---------------------------------------


@pytest.mark.parametrize(
    ("path", "latest", "version"),
    [
        ("/v1/models/digits_mlp_torch:predict", True, 1),
        ("/v1/models/digits_mlp_tf:predict", True, 1),
        ("/v1/models/digits_mlp_tf/versions/1:predict", False, 1),
        ("/v1/models/digits_mlp_tf/versions/2:predict", False, 2),
        ("/v1/models/digits_mlp_tf/labels/canary:predict", False, 2),
    ],
)
async def test_only_unpinned_requests_go_without_a_version(
    client: httpx.AsyncClient,
    fakes: dict[str, FakeBackend],
    path: str,
    latest: bool,
    version: int,
) -> None:
    r = await client.post(path, json=BODY)
    assert r.status_code == 200, r.text
    (call,) = [c for f in fakes.values() for c in f.calls]
    assert (call.latest, call.version) == (latest, version)


async def test_v2_unpinned_request_reports_the_version_that_answered(
    client: httpx.AsyncClient, fakes: dict[str, FakeBackend]
) -> None:
    async def answered_by_2(call: Any) -> InferResult:
        fakes["tfserving"].calls.append(call)
        return InferResult(predict_digits(call.inputs), 2)  # the backend's latest

    fakes["tfserving"].infer = answered_by_2  # type: ignore[method-assign]
    body = {
        "inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 64], "data": [0.5] * 64}]
    }
    r = await client.post("/v2/models/digits_mlp_tf/infer", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["model_version"] == "2"
    assert fakes["tfserving"].calls[0].latest is True


@pytest.mark.parametrize(
    "override",
    [
        {"canary_weights": {"digits_mlp_tf": {2: 0.5}}},
        {"shadow_versions": {"digits_mlp_tf": 2}},
    ],
)
async def test_a_split_model_stays_pinned(
    make_client: Any, fakes: dict[str, FakeBackend], override: dict[str, Any]
) -> None:
    settings = GatewaySettings(api_keys=[API_KEY], access_log=False, **override)
    async with make_client(settings) as client:
        for _ in range(8):
            r = await client.post("/v1/models/digits_mlp_tf:predict", json=BODY)
            assert r.status_code == 200, r.text
    await asyncio.sleep(0.05)  # let shadow copies land
    calls = fakes["tfserving"].calls
    assert len(calls) >= 8
    assert all(not c.latest for c in calls)
