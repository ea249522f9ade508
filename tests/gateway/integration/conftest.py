"""Integration fixtures: the real TF server and TorchServe come from the session fixture
``live_stack`` (tests/conftest.py, owned by the local-stack side); the gateway runs here, in a
uvicorn thread on a free loopback port, configured with that stack's route file.

Without ``live_stack``, ``TANDEM_GATEWAY_DEV_ROUTES=/path/routes.json`` points the tests at
backends started by hand (the stop/start test is then skipped); otherwise they are skipped.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from gateway.app import create_app
from gateway.route_table import RouteTable, load_route_table
from gateway.server import OneWriteHttpToolsProtocol
from gateway.settings import GatewaySettings

API_KEY = "integration-key-0123456789"


@dataclass
class Stack:
    routes_file: Path
    native: Any | None  # the live_stack object, when the fixture exists


@dataclass
class GatewayServer:
    url: str
    table: RouteTable
    stack: Stack
    headers: dict[str, str]
    grpc_target: str = ""
    """``127.0.0.1:PORT`` of the gateway's gRPC front door."""


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest) -> Stack:
    try:
        live = request.getfixturevalue("live_stack")
    except pytest.FixtureLookupError:
        dev = os.environ.get("TANDEM_GATEWAY_DEV_ROUTES")
        if not dev:
            pytest.skip("no live_stack fixture and no TANDEM_GATEWAY_DEV_ROUTES")
        return Stack(Path(dev), None)
    return Stack(Path(live.routes_file), live)


@pytest.fixture(scope="session")
def gateway_server(stack: Stack) -> Iterator[GatewayServer]:
    settings = GatewaySettings(
        routes_file=stack.routes_file,
        api_keys=[API_KEY],
        access_log=False,
        ready_cache_s=0.0,
        breaker_reset_s=0.5,
        grpc_port=0,
    )
    app = create_app(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        ws="none",
        http=OneWriteHttpToolsProtocol,  # as `python -m gateway` serves
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)
    else:
        pytest.fail("gateway did not start within 15 s")
    headers = {"Authorization": f"Bearer {API_KEY}"}
    # Wait (bounded) until every routed model answers through the gateway.
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if httpx.get(f"{url}/readyz", timeout=5.0).status_code == 200:
            break
        time.sleep(0.5)
    grpc_target = f"127.0.0.1:{app.state.grpc_port}"
    yield GatewayServer(url, load_route_table(stack.routes_file), stack, headers, grpc_target)
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture
def http(gateway_server: GatewayServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=gateway_server.url, headers=gateway_server.headers, timeout=10.0
    ) as client:
        yield client
