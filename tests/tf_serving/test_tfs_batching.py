"""Server-side batching, Prometheus metrics and gRPC config reload against a real server."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pytest
from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc
from tensorflow_serving.config import model_server_config_pb2
from tfs_harness import ServerProcess

from tf_serving.server.batching import Batcher
from tf_serving.server.config import BatchingConfig
from tf_serving.server.metrics import Metrics
from tf_serving.server.servable import Servable

pytestmark = pytest.mark.integration

METRICS = "/monitoring/prometheus/metrics"
BATCHING = """
max_batch_size { value: 4 }
batch_timeout_micros { value: 1000000 }
max_enqueued_batches { value: 1 }
num_batch_threads { value: 1 }
allowed_batch_sizes: 2
allowed_batch_sizes: 4
"""


@pytest.fixture(scope="module")
def server(model_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("tfs_batching")
    shutil.copytree(model_store / "native" / "2", root / "native" / "2")
    (root / "batching.config").write_text(BATCHING)
    (root / "monitoring.config").write_text("prometheus_config { enable: true }")
    proc = ServerProcess(
        "--model_name=native",
        f"--model_base_path={root / 'native'}",
        "--enable_batching",
        f"--batching_parameters_file={root / 'batching.config'}",
        f"--monitoring_config_file={root / 'monitoring.config'}",
        log_path=root / "server.log",
        cwd=root,
    )
    try:
        proc.wait_available({"native": 1})
        yield proc
    finally:
        proc.stop()


def _metric(server: ServerProcess, name: str, labels: str = "") -> float:
    text = httpx.get(server.rest_url + METRICS, timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and (line[len(name)] in " {") and labels in line
    )


async def _predict(http: httpx.AsyncClient, rows: list[list[float]]) -> httpx.Response:
    return await http.post("/v1/models/native:predict", json={"instances": rows})


async def test_concurrent_requests_are_merged(server: ServerProcess) -> None:
    tasks_before = _metric(server, "tandem_tfs_batch_tasks_sum")
    batches_before = _metric(server, "tandem_tfs_batch_tasks_count")
    async with httpx.AsyncClient(base_url=server.rest_url, timeout=20) as http:
        responses = await asyncio.wait_for(
            asyncio.gather(*(_predict(http, [[float(i), 0.0, 0.0]]) for i in range(4))), 20
        )
    for i, response in enumerate(responses):
        assert response.status_code == 200, response.text
        assert response.json()["predictions"][0]["doubled"] == [2.0 * i, 0.0, 0.0]
    assert _metric(server, "tandem_tfs_batch_tasks_sum") - tasks_before == 4
    # All four landed in one batch (full at max_batch_size, so no timeout wait).
    assert _metric(server, "tandem_tfs_batch_tasks_count") - batches_before == 1


async def test_batching_metrics_carry_tf_servings_own_names(server: ServerProcess) -> None:
    family = ":tensorflow:serving:batching_session:"
    before = {
        name: _metric(server, f"{family}{name}")
        for name in ("processed_batch_size_count", "processed_batch_size_sum")
    }
    inputs_before = _metric(server, f"{family}input_batch_size_count")
    async with httpx.AsyncClient(base_url=server.rest_url, timeout=20) as http:
        responses = await asyncio.wait_for(
            asyncio.gather(*(_predict(http, [[float(i), 0.0, 0.0]]) for i in range(4))), 20
        )
    assert all(r.status_code == 200 for r in responses)
    assert (
        _metric(server, f"{family}processed_batch_size_count")
        - before["processed_batch_size_count"]
        == 1
    )
    assert (
        _metric(server, f"{family}processed_batch_size_sum") - before["processed_batch_size_sum"]
        == 4
    )
    assert _metric(server, f"{family}input_batch_size_count") - inputs_before == 4
    queued = _metric(server, f"{family}queuing_latency_count", 'thread_pool_name="')
    assert queued >= 4


async def test_padding_to_allowed_batch_size(server: ServerProcess) -> None:
    padding_before = _metric(server, "tandem_tfs_batch_padding_rows_total")
    async with httpx.AsyncClient(base_url=server.rest_url, timeout=20) as http:
        response = await _predict(http, [[1.0, 1.0, 1.0]] * 3)
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 3  # padding sliced off
    assert _metric(server, "tandem_tfs_batch_padding_rows_total") - padding_before == 1


async def test_queue_full_is_unavailable(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.rest_url, timeout=20) as http:
        waiting = asyncio.create_task(_predict(http, [[1.0, 2.0, 3.0]]))
        await asyncio.sleep(0.3)  # the first batch is now open, waiting for its timeout
        rejected = await _predict(http, [[0.0, 0.0, 0.0]] * 4)
        accepted = await asyncio.wait_for(waiting, 20)
    assert rejected.status_code == 503, rejected.text
    assert "The batch scheduling queue to which this task was submitted is full" in rejected.text
    assert accepted.status_code == 200


async def test_task_larger_than_max_batch(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.rest_url, timeout=20) as http:
        response = await _predict(http, [[0.0, 0.0, 0.0]] * 5)
    assert response.status_code == 400
    assert "larger than maximum input batch size" in response.json()["error"]


def test_request_metrics(server: ServerProcess) -> None:
    labels = 'api="Predict",entrypoint="REST",model_name="native",status="OK"'
    assert _metric(server, "tandem_tfs_requests_total", labels) >= 5
    unavailable = 'model_name="native",status="UNAVAILABLE"'
    assert _metric(server, "tandem_tfs_requests_total", unavailable) >= 1
    assert _metric(server, "tandem_tfs_request_latency_seconds_count", 'api="Predict"') >= 5


def test_grpc_reload_config(server: ServerProcess, model_store: Path) -> None:
    root = server.root
    assert root is not None
    shutil.copytree(model_store / "tf1" / "1", root / "tf1" / "1")
    config = model_server_config_pb2.ModelServerConfig()
    for name in ("native", "tf1"):
        entry = config.model_config_list.config.add(name=name, base_path=str(root / name))
        entry.model_platform = "tensorflow"
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        request = model_management_pb2.ReloadConfigRequest(config=config)
        response = stub.HandleReloadConfigRequest(request, timeout=60)
        assert response.status.error_code == 0, response.status.error_message
        predict = httpx.post(
            f"{server.rest_url}/v1/models/tf1:predict", json={"instances": [[1.0, 1.0]]}
        )
        assert predict.json() == {"predictions": [[3.0]]}
        # A label must name an available version.
        config.model_config_list.config[1].version_labels["stable"] = 9
        request = model_management_pb2.ReloadConfigRequest(config=config)
        response = stub.HandleReloadConfigRequest(request, timeout=60)
        assert response.status.error_code != 0
        assert "not currently available for inference" in response.status.error_message


def test_metrics_off_without_monitoring_config(model_store: Path, tmp_path: Path) -> None:
    proc = ServerProcess(
        f"--model_base_path={model_store / 'tf1'}", "--model_name=tf1", log_path=tmp_path / "log"
    )
    try:
        proc.wait_available({"tf1": 1})
        assert httpx.get(proc.rest_url + METRICS).status_code == 404
    finally:
        assert proc.stop() == 0


async def test_no_timeout_runs_a_lone_task_at_once_and_merges_what_queues(
    model_store: Path,
) -> None:
    """batch_timeout_micros 0 (TF Serving's default, and the demo's): a task with a batch
    thread free runs alone at once; tasks arriving while every thread is busy form one batch."""
    servable = Servable("native", 2, model_store / "native" / "2")
    signature = servable.signatures["serving_default"]
    metrics = Metrics()
    config = BatchingConfig(max_batch_size=8, batch_timeout_micros=0, num_batch_threads=1)
    batcher = Batcher(config, metrics)

    def batches() -> tuple[float | None, float | None]:
        labels = {"model_name": "native"}
        sample = metrics.registry.get_sample_value
        return sample("tandem_tfs_batch_tasks_count", labels), sample(
            "tandem_tfs_batch_tasks_sum", labels
        )

    def run(i: int) -> Coroutine[Any, Any, dict[str, np.ndarray]]:
        return batcher.run(servable, signature, {"x": np.array([[i, 0, 0]], np.float32)})

    try:
        lone = await asyncio.wait_for(run(7), 20)
        assert lone["doubled"].tolist() == [[14.0, 0.0, 0.0]]
        assert batches() == (1.0, 1.0)
        # The one batch thread busy: what arrives meanwhile waits, then runs as one batch.
        await batcher._threads.acquire()
        waiting = [asyncio.create_task(run(i)) for i in range(5)]
        await asyncio.sleep(0.05)
        assert not any(t.done() for t in waiting)
        batcher._threads.release()
        answers = await asyncio.wait_for(asyncio.gather(*waiting), 20)
        assert [a["doubled"].tolist() for a in answers] == [[[2.0 * i, 0, 0]] for i in range(5)]
        assert batches() == (2.0, 6.0)
    finally:
        batcher.shutdown()
