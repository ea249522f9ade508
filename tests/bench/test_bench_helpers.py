"""bench helpers with logic: the derived manifests and the choice of the 224x224x3 model."""

from __future__ import annotations

from pathlib import Path

from bench.batching import derived_manifest
from bench.gateway import large_model
from tandem.configgen import routes
from tandem.loadtest.targets import models_from_build
from tandem.manifest import load_manifest

REPO = Path(__file__).resolve().parents[2]
MLPS = ["digits_mlp_tf", "digits_mlp_torch"]


def test_batching_off_manifest_keeps_the_models_and_their_twins_only(tmp_path):
    path = derived_manifest(REPO / "models.yaml", tmp_path / "m.yaml", MLPS, batching=False)
    m = load_manifest(path)  # loads: no twin names a model that was left out
    assert [x.name for x in m.models] == MLPS
    assert all(not x.batching.enabled for x in m.models)
    # the bounds of batching on, not those derived from a batch of one
    on = {x.name: x.admission_bounds for x in load_manifest(REPO / "models.yaml").models}
    assert {x.name: x.admission_bounds for x in m.models} == {n: on[n] for n in MLPS}
    assert [t.name for t in m.twins] == ["digits_mlp"]


def test_free_ports_move_every_server(tmp_path):
    path = derived_manifest(REPO / "models.yaml", tmp_path / "m.yaml", MLPS, True, free_ports=True)
    servers = load_manifest(path).data.servers
    ports = {
        servers.tfserving.rest_port,
        servers.tfserving.grpc_port,
        servers.torchserve.inference_port,
        servers.torchserve.management_port,
        servers.gateway.port,
    }
    assert not ports & {8000, 8080, 8081, 8500, 8501}
    assert all(x.batching.enabled for x in load_manifest(path).models)


def test_large_model_is_the_backends_224x224x3_one(tmp_path):
    (tmp_path / "config").mkdir()
    rendered = routes(load_manifest(REPO / "models.yaml"), tmp_path)
    (tmp_path / "config" / "routes.json").write_text(rendered)
    found = models_from_build(tmp_path)
    assert large_model(found, "tfserving") == "digits_cnn224_tf"
    assert large_model(found, "torchserve") == "digits_cnn224_torch"
    assert large_model(found, "no-such-backend") is None
