"""deploy.compose: the compose stack's configs, rendered from the manifest for /models."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest

from deploy import compose
from tandem.manifest import Manifest, load_manifest
from tandem.probes.torchserve_ready import wanted
from tests.deploy.conftest import REPO

MINI = """\
models:
  - name: small_tf
    framework: tensorflow
    source: examples.digits.keras_models:train_mlp
    version: 3
    device: {{kind: gpu, count: {tf_gpus}}}
    inputs: [{{name: pixels, dtype: float32, shape: [-1, 64]}}]
    outputs: [{{name: label, dtype: int64, shape: [-1]}}]
  - name: small_torch
    framework: pytorch
    format: torchscript
    source: examples.digits.torch_models:train_mlp
    version: 1
    workers: 2
    inputs: [{{name: pixels, dtype: float32, shape: [-1, 64]}}]
    outputs: [{{name: label, dtype: int64, shape: [-1]}}]
"""


def _manifest(tmp_path: Path, tf_gpus: int = 2) -> Manifest:
    path = tmp_path / "models.yaml"
    path.write_text(MINI.format(tf_gpus=tf_gpus))
    return load_manifest(path)


@pytest.fixture
def rendered(tmp_path: Path) -> dict[str, str]:
    return compose.render(load_manifest(REPO / "models.yaml"))


def test_backends_by_service_name_and_key_file_on_the_shared_volume(
    rendered: dict[str, str],
) -> None:
    backends = json.loads(rendered["config/routes.json"])["backends"]
    assert backends["tfserving"]["grpc_target"] == "tf-serving:8500"
    assert backends["tfserving"]["rest_url"] == "http://tf-serving:8501"
    assert backends["torchserve"]["grpc_target"] == "torchserve:7070"
    assert backends["torchserve"]["token_file"] == "/run/tandem/torchserve/key_file.json"


def test_torchserve_listens_on_the_container_network_and_writes_only_to_its_mounts(
    rendered: dict[str, str],
) -> None:
    props = dict(line.split("=", 1) for line in rendered["config/config.properties"].splitlines())
    assert props["inference_address"] == "http://0.0.0.0:8080"
    assert props["management_address"] == "http://0.0.0.0:8081"
    assert props["disable_token_authorization"] == "false"
    assert props["model_store"] == "/models/torchserve/model-store"
    assert "-Djava.io.tmpdir=/tmp " in props["vmargs"]
    assert "file:///models/config/log4j2.xml" in props["vmargs"]
    assert 'fileName="/var/log/torchserve/ts_log.log"' in rendered["config/log4j2.xml"]


def test_no_path_of_this_machine_leaks_into_the_configs(rendered: dict[str, str]) -> None:
    assert 'base_path: "/models/tensorflow/digits_mlp_tf"' in rendered["config/models.config"]
    for name, text in rendered.items():
        assert str(REPO) not in text, name
        assert "/models/torchserve/tmp" not in text, name
        assert "/models/torchserve/logs" not in text, name


@pytest.mark.parametrize(("tf_gpus", "expected"), [(1, 1), (2, 2)])
def test_gpu_counts_come_from_the_manifest(tmp_path: Path, tf_gpus: int, expected: int) -> None:
    env = compose.render(_manifest(tmp_path, tf_gpus))["compose.env"]
    assert env.startswith(f"TANDEM_TF_GPUS={expected}\nTANDEM_TS_GPUS=0\n")


def test_write_keeps_one_api_key_and_gives_the_gateway_only_its_hash(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path)
    compose.write(manifest, tmp_path / "build")
    key_file = tmp_path / "build" / "compose" / "api_key"
    key = key_file.read_text().strip()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    scrape_key = (tmp_path / "build" / "compose" / "prometheus_api_key").read_text().strip()
    assert scrape_key != key
    hashes = (tmp_path / "build" / "compose" / "api_keys").read_text()
    assert hashes == "".join(
        f"sha256:{hashlib.sha256(k.encode()).hexdigest()}\n" for k in (key, scrape_key)
    )
    assert key not in hashes
    compose.write(manifest, tmp_path / "build")
    assert key_file.read_text().strip() == key  # a second run keeps the keys
    assert (tmp_path / "build/compose/prometheus_api_key").read_text().strip() == scrape_key


def test_the_torchserve_healthcheck_reads_minimum_workers_from_config(tmp_path: Path) -> None:
    props = compose.render(_manifest(tmp_path))["config/config.properties"]
    assert wanted(props) == {"small_torch": {"1": 2}}
    assert wanted("inference_address=http://0.0.0.0:8080\n") == {}


def test_write_can_leave_the_route_file_to_the_rollout(tmp_path: Path) -> None:
    """Before a rollout the other configs change; routes.json follows once versions are live."""
    config = tmp_path / "build" / "compose" / "config"
    compose.write(_manifest(tmp_path), tmp_path / "build", routes=False)
    assert (config / "models.config").is_file()
    assert not (config / "routes.json").exists()
    compose.write(_manifest(tmp_path), tmp_path / "build")
    assert json.loads((config / "routes.json").read_text())["schema_version"] == 1
    assert sorted(p.name for p in config.iterdir() if p.name.startswith(".")) == []


def test_write_volume_puts_the_configs_in_the_repository_and_the_keys_apart(
    tmp_path: Path,
) -> None:
    """The export service's layout: configs where the servers read them (/models/config,
    /models/prometheus), keys only in the `keys` volume, their hashes for the gateway."""
    manifest, out, keys = _manifest(tmp_path), tmp_path / "models", tmp_path / "keys"
    compose.write_volume(manifest, out, keys)
    rendered = compose.render(manifest)
    for name, text in rendered.items():
        if name != "compose.env":
            assert (out / name).read_text() == text, name
    assert not (out / "compose.env").exists()
    assert not (out / "compose").exists()
    key, scrape_key = (keys / "api_key").read_text().strip(), (keys / "prometheus_api_key")
    for path in (keys / "api_key", scrape_key):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    hashes = (out / "config" / compose.API_KEYS_FILE).read_text()
    assert hashes == compose._sha256(keys / "api_key") + compose._sha256(scrape_key)
    assert not any(key in p.read_text() for p in out.rglob("*") if p.is_file())
    compose.write_volume(manifest, out, keys, routes=False)
    assert (keys / "api_key").read_text().strip() == key  # kept across runs


def test_write_gives_the_host_stack_the_hashes_where_the_gateway_reads_them(
    tmp_path: Path,
) -> None:
    """docker-compose.host.yml mounts compose/config at /models/config: the gateway reads
    /models/config/api_keys in either stack; the mount points exist in the read-only build."""
    out = tmp_path / "build"
    compose.write(_manifest(tmp_path), out)
    hashes = (out / "compose" / "api_keys").read_text()
    assert (out / "compose" / "config" / compose.API_KEYS_FILE).read_text() == hashes
    assert (out / "config").is_dir()
    assert (out / "prometheus").is_dir()
