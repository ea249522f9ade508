"""Shared fixtures: the demo models exported once per test run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every demo model in models.yaml, exported (trained, parity-checked) into a temp build."""
    from tandem.export import export_models, write_build_configs
    from tandem.manifest import load_manifest

    out = tmp_path_factory.mktemp("build")
    manifest = load_manifest(REPO / "models.yaml")
    results = export_models(manifest, out=out)
    assert all(r.parity_ok and not r.skipped for r in results)
    write_build_configs(manifest, out)  # as the CLI does
    return out


class LiveStack:
    """The demo stack running for real on free loopback ports (see `live_stack`)."""

    def __init__(self, stack, out: Path) -> None:  # type: ignore[no-untyped-def]
        self.stack = stack
        self.out = out
        self.manifest = stack.manifest
        self.routes_file = out / "config" / "routes.json"
        servers = stack.manifest.data.servers
        self.tf_rest = f"http://127.0.0.1:{servers.tfserving.rest_port}"
        self.tf_grpc = f"127.0.0.1:{servers.tfserving.grpc_port}"
        self.ts_rest = f"http://127.0.0.1:{servers.torchserve.inference_port}"
        self.ts_management = f"http://127.0.0.1:{servers.torchserve.management_port}"
        self.ts_grpc = f"127.0.0.1:{servers.torchserve.grpc_inference_port}"
        self.gateway_url = f"http://127.0.0.1:{servers.gateway.port}"
        self.gateway_grpc = f"127.0.0.1:{servers.gateway.grpc_port}"

    @property
    def torchserve_token(self) -> str:
        return str(self.stack.backend("torchserve").keys()["inference"])

    @property
    def management_token(self) -> str:
        return str(self.stack.backend("torchserve").keys()["management"])

    @property
    def gateway_api_key(self) -> str:
        return str(self.stack.gateway.api_key())

    def _service(self, name: str):  # type: ignore[no-untyped-def]
        return self.stack.backend(name)

    def stop_backend(self, name: str) -> None:
        self.stack.stop_service(self._service(name))

    def start_backend(self, name: str) -> None:
        self.stack.start_service(self._service(name))

    @contextmanager
    def paused_backend(self, name: str) -> Iterator[None]:
        """A hung backend, for as long as the block runs: its process tree is stopped
        (SIGSTOP), so whatever reaches it waits without an answer, then continued."""
        import psutil

        root = psutil.Process(self._service(name).pid)
        procs = [root, *root.children(recursive=True)]
        for proc in procs:
            proc.suspend()
        try:
            yield
        finally:
            for proc in procs:
                with suppress(psutil.NoSuchProcess):
                    proc.resume()


def with_free_ports(manifest):  # type: ignore[no-untyped-def]
    """The same manifest, every server moved to a free loopback port."""
    from tandem.manifest import GatewayServer, Manifest, Servers, TFServingServer, TorchServeServer
    from tandem.stack.process import free_port

    servers = Servers(
        tfserving=TFServingServer(grpc_port=free_port(), rest_port=free_port()),
        torchserve=TorchServeServer(
            inference_port=free_port(),
            management_port=free_port(),
            metrics_port=free_port(),
            grpc_inference_port=free_port(),
            grpc_management_port=free_port(),
        ),
        gateway=GatewayServer(port=free_port(), grpc_port=free_port()),
    )
    data = manifest.data.model_copy(update={"servers": servers})
    return Manifest(path=manifest.path, data=data, lines=manifest.lines)


@pytest.fixture(scope="session")
def free_ports_manifest():  # type: ignore[no-untyped-def]
    """`with_free_ports` for tests in other folders (conftest is not importable by name)."""
    return with_free_ports


@pytest.fixture(scope="session")
def live_stack(demo_build: Path) -> Iterator[LiveStack]:
    """TF server + TorchServe + gateway on free ports, serving the exported demo models."""
    from tandem.export import write_build_configs
    from tandem.manifest import load_manifest
    from tandem.stack import Stack

    moved = with_free_ports(load_manifest(REPO / "models.yaml"))
    manifest, _ = write_build_configs(moved, demo_build)
    stack = Stack(manifest, demo_build, ready_timeout=240)
    stack.up()
    try:
        yield LiveStack(stack, demo_build)
    finally:
        stack.down()
