"""Conformance fixtures: the server under test, from env or started here.

Set ``TANDEM_TFS_REST_URL`` and ``TANDEM_TFS_GRPC_TARGET`` to test any TF Serving
compatible server that serves the fixture models (see README.md); otherwise the fixture
models are written to a temp dir and Tandem's server is started once for the session.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import httpx
import pytest
from tfs_fixture_models import write_fixtures
from tfs_harness import ServerProcess


@dataclass(frozen=True)
class Target:
    """Where the server under test listens."""

    rest_url: str
    grpc_target: str


@pytest.fixture(scope="session")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    rest_url = os.environ.get("TANDEM_TFS_REST_URL")
    grpc_target = os.environ.get("TANDEM_TFS_GRPC_TARGET")
    if rest_url and grpc_target:
        yield Target(rest_url.rstrip("/"), grpc_target)
        return
    root = tmp_path_factory.mktemp("tfs_conformance")
    config = write_fixtures(root / "models")
    server = ServerProcess(f"--model_config_file={config}", log_path=root / "server.log")
    try:
        server.wait_available({"native": 2, "tf1": 1, "half_plus_two": 1, "half_plus_two_tf2": 1})
        yield Target(server.rest_url, server.grpc_target)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def rest(target: Target) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=target.rest_url, timeout=30.0) as client:
        yield client


@pytest.fixture(scope="session")
def channel(target: Target) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(target.grpc_target) as chan:
        grpc.channel_ready_future(chan).result(timeout=30)
        yield chan
