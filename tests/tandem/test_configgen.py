"""Generated configs: golden files compared byte for byte, and parsed by the real parsers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gateway.route_table import RouteTable
from tandem.configgen import render_all, write_configs
from tandem.kinds.torchserve import torch_threads_per_worker, torchserve_properties
from tandem.manifest import load_manifest
from tandem.placement import as_placement

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
ROOT = Path("/srv/tandem/build")  # a fixed output root keeps the goldens machine-independent


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return render_all(load_manifest(HERE / "data" / "golden.yaml"), ROOT)


def test_configs_match_golden_files(rendered: dict[str, str]) -> None:
    if os.environ.get("TANDEM_UPDATE_GOLDEN") == "1":
        for name, text in rendered.items():
            (GOLDEN / name).write_text(text)
    assert sorted(rendered) == sorted(p.name for p in GOLDEN.iterdir())
    for name, text in rendered.items():
        assert text == (GOLDEN / name).read_text(), f"{name} differs from its golden file"


def test_same_input_byte_identical_output(tmp_path: Path) -> None:
    m = load_manifest(HERE / "data" / "golden.yaml")
    a = [p.read_bytes() for p in write_configs(m, tmp_path / "a", ROOT)]
    b = [p.read_bytes() for p in write_configs(m, tmp_path / "b", ROOT)]
    assert a == b


def test_models_config_parses_as_model_server_config(rendered: dict[str, str]) -> None:
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    config = text_format.Parse(
        rendered["models.config"], model_server_config_pb2.ModelServerConfig()
    )
    by_name = {c.name: c for c in config.model_config_list.config}
    assert set(by_name) == {"tf_two_versions", "tf_specific"}
    two = by_name["tf_two_versions"]
    assert two.base_path == str(ROOT / "tensorflow" / "tf_two_versions")
    assert two.model_platform == "tensorflow"
    assert two.model_version_policy.latest.num_versions == 2
    assert dict(two.version_labels) == {"stable": 1, "canary": 2}
    assert list(by_name["tf_specific"].model_version_policy.specific.versions) == [1, 3]


def test_batching_and_monitoring_parse(rendered: dict[str, str]) -> None:
    # The tensorflow-serving-api wheel lacks these two protos; the compatible server declares
    # wire- and text-identical ones (same package, names and field numbers).
    from google.protobuf import text_format

    from tf_serving.server.protos import BatchingParameters, MonitoringConfig

    batching = text_format.Parse(rendered["batching_parameters.txt"], BatchingParameters())
    assert batching.max_batch_size.value == 16
    assert batching.batch_timeout_micros.value == 1500
    assert list(batching.allowed_batch_sizes) == [4, 8, 16]
    monitoring = text_format.Parse(rendered["monitoring.config"], MonitoringConfig())
    assert monitoring.prometheus_config.enable
    assert monitoring.prometheus_config.path == "/monitoring/prometheus/metrics"


def test_torchserve_properties(rendered: dict[str, str]) -> None:
    props = dict(line.split("=", 1) for line in rendered["config.properties"].splitlines() if line)
    assert props["inference_address"] == "http://127.0.0.1:18080"
    assert props["management_address"].startswith("http://127.0.0.1:")
    assert props["disable_token_authorization"] == "false"
    assert props["token_expiration_min"] == "120"
    assert props["metrics_mode"] == "prometheus"
    assert props["number_of_gpu"] == "2"
    assert props["load_models"] == "torch_gpu.mar,torch_gpu.v2.mar,torch_mlp.mar"
    # The gateway's admission bounds, derived for torch_gpu (the largest): 4 workers x batch
    # 4 x 2 in flight, four times that waiting; TorchServe's own queue holds no more.
    assert props["job_queue_size"] == "160"
    models = json.loads(props["models"])
    v2 = models["torch_gpu"]["2"]
    assert v2 == {
        "defaultVersion": True,
        "marName": "torch_gpu.v2.mar",
        "minWorkers": 2,
        "maxWorkers": 4,
        "batchSize": 4,
        "maxBatchDelay": 10,
        "responseTimeout": 3,
    }
    assert models["torch_gpu"]["1"]["defaultVersion"] is False


def test_routes(rendered: dict[str, str]) -> None:
    routes = json.loads(rendered["routes.json"])
    assert routes["schema_version"] == 1
    assert routes["backends"]["torchserve"]["token_file"] == str(
        ROOT / "torchserve" / "key_file.json"
    )
    tf = routes["models"]["tf_two_versions"]
    assert tf["backend"] == "tfserving"
    assert tf["versions"] == [1, 2]
    assert tf["default_version"] == 2
    assert tf["labels"] == {"canary": 2, "stable": 1}
    assert tf["inputs"] == [{"name": "pixels", "dtype": "float32", "shape": [-1, 64]}]
    torch = routes["models"]["torch_gpu"]
    assert torch["backend"] == "torchserve"
    assert torch["signature_name"] is None
    assert torch["timeout_ms"] == 2500
    assert torch["admission"] == {"max_in_flight": 32, "max_queue": 128}
    assert tf["admission"] == {"max_in_flight": 3, "max_queue": 0}  # set in the manifest
    twin = routes["twins"]["mlp"]
    assert twin["default"] == "tf_two_versions"
    assert twin["shadow"] == "torch_mlp"
    assert twin["variants"]["tf_two_versions"]["weight"] == 0.75
    assert twin["variants"]["torch_mlp"] == {
        "weight": 0.25,
        "inputs": {"pixels": "x"},
        "outputs": {},
    }
    assert twin["agreement"]["top1"] == ["probabilities"]
    RouteTable.model_validate(routes)  # the gateway accepts what the generator writes


@pytest.mark.parametrize(("cores", "threads"), [(1, 1), (2, 1), (8, 1), (16, 3), (64, 12)])
def test_torch_threads_share_the_cores_among_workers(cores: int, threads: int) -> None:
    # torch_gpu: 2 workers for each of its 2 served versions; torch_mlp: 1 worker.
    manifest = load_manifest(HERE / "data" / "golden.yaml")
    assert torch_threads_per_worker(manifest, cores) == threads


@pytest.mark.parametrize(("delay_ms", "written"), [(0, 1), (0.4, 1), (1, 1), (2.5, 3), (10, 10)])
def test_torchserve_batch_delay_is_whole_ms_and_never_0(delay_ms: float, written: int) -> None:
    """TorchServe reads maxBatchDelay <= 0 as its 100 ms default: "no wait" must be 1 ms."""
    m = load_manifest(HERE / "data" / "golden.yaml")
    spec = next(x for x in m.models if x.name == "torch_gpu")
    spec = spec.model_copy(
        update={"batching": spec.batching.model_copy(update={"max_delay_ms": delay_ms})}
    )
    text = torchserve_properties([spec], as_placement(m, ROOT))
    props = dict(line.split("=", 1) for line in text.splitlines() if line)
    models = json.loads(props["models"])
    assert {v["maxBatchDelay"] for v in models["torch_gpu"].values()} == {written}
