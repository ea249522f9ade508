"""Placements: each port defined once (the kinds' container ports, the manifest's defaults and
the hand-written compose and Docker files agree), and what each place says about binds,
management and tokens."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tandem import placement
from tandem.backend_kinds import KINDS, TORCHSERVE
from tandem.configgen import render_all
from tandem.manifest import GatewayServer, Servers, load_manifest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = {
    "gateway": REPO / "gateway" / "Dockerfile",
    **{k.id: REPO / f"{k.id.replace('tfserving', 'tf_serving')}" / "Dockerfile" for k in KINDS},
}


def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def test_manifest_defaults_are_the_container_ports() -> None:
    defaults = Servers()
    for kind in KINDS:
        server = getattr(defaults, kind.id)
        assert {n: getattr(server, f) for n, f in kind.server_ports.items()} == dict(kind.ports)
    g = GatewayServer()
    assert {"http": g.port, "grpc": g.grpc_port} == dict(placement.GATEWAY_PORTS)


def test_compose_file_publishes_only_ports_of_the_compose_placement() -> None:
    """docker-compose.yml's ports are written by hand: each container port it publishes is
    one the compose placement gives that service."""
    doc = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    place = placement.compose(load_manifest(REPO / "models.yaml"))
    by_service = {placement.service_name(key): s for key, s in place.servers.items()}
    published = 0
    for name, service in doc["services"].items():
        if name not in by_service:
            continue
        for mapping in service.get("ports", []):
            container_port = int(str(mapping).rsplit(":", 1)[1])
            assert container_port in by_service[name].ports.values(), (name, mapping)
            published += 1
    assert published == 4  # gateway http + grpc, TF Serving REST, TorchServe management


@pytest.mark.parametrize("key", sorted(DOCKERFILES))
def test_images_expose_the_placement_ports(key: str) -> None:
    text = DOCKERFILES[key].read_text()
    exposed = {int(p) for line in re.findall(r"^EXPOSE (.+)$", text, re.M) for p in line.split()}
    ports = placement.compose(load_manifest(REPO / "models.yaml")).server(key).ports
    assert exposed == set(ports.values())


def test_local_placement_is_the_manifest_servers(tmp_path: Path) -> None:
    manifest = load_manifest(REPO / "tests" / "tandem" / "data" / "golden.yaml")
    place = placement.local(manifest, tmp_path)
    assert place.model_root == tmp_path.resolve()
    assert place.server(TORCHSERVE.id).ports["http"] == 18080  # the manifest's override
    assert place.token_auth
    assert place.token_file == place.layout.torchserve_key_file
    assert placement.as_placement(manifest, tmp_path) == place


@pytest.mark.parametrize(
    ("name", "management", "token"),
    [
        ("local", "127.0.0.1", "false"),
        ("compose", "0.0.0.0", "false"),
        ("k8s", "127.0.0.1", "true"),
    ],
)
def test_management_bind_and_token_auth_come_from_the_placement(
    tmp_path: Path, name: str, management: str, token: str
) -> None:
    manifest = load_manifest(REPO / "models.yaml")
    place = {
        "local": placement.local(manifest, tmp_path),
        "compose": placement.compose(manifest),
        "k8s": placement.kubernetes(manifest, "cpu"),
    }[name]
    props = _props(render_all(manifest, place)["config.properties"])
    assert props["management_address"] == f"http://{management}:8081"
    assert props["grpc_management_address"] == "127.0.0.1"  # never published anywhere
    assert props["disable_token_authorization"] == token
    assert props["model_store"] == str(place.layout.model_store)


def test_kserve_placement_registers_by_snapshot_without_the_model_api() -> None:
    manifest = load_manifest(REPO / "models.yaml")
    from tandem.configgen import torchserve_properties

    props = _props(torchserve_properties(TORCHSERVE.models(manifest)[:1], placement.kserve()))
    assert props["inference_address"] == "http://0.0.0.0:8085"
    assert props["enable_model_api"] == "false"
    assert "load_models" not in props
    assert "vmargs" not in props
    assert props["model_snapshot"].startswith('{"modelCount":1,')
