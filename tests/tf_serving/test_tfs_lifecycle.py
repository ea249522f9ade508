"""Model lifecycle against a real server: hot version swap, warmup, config-file reload."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2
from tfs_harness import ServerProcess

pytestmark = pytest.mark.integration

CONFIG = """model_config_list {{
  config {{
    name: "grow" base_path: "grow" model_version_policy {{ latest {{ num_versions: 1 }} }}
  }}
  config {{ name: "warm" base_path: "warm" }}
  {extra}
}}
"""
BADWARM = 'config { name: "badwarm" base_path: "badwarm" }'


def _write_warmup(version_dir: Path, signatures: list[str]) -> None:
    extra = version_dir / "assets.extra"
    extra.mkdir(exist_ok=True)
    with tf.io.TFRecordWriter(str(extra / "tf_serving_warmup_requests")) as writer:
        for signature in signatures:
            log = prediction_log_pb2.PredictionLog()
            request = log.predict_log.request
            request.model_spec.name = "warm"
            request.model_spec.signature_name = signature
            request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.ones((1, 3), np.float32)))
            writer.write(log.SerializeToString())


@pytest.fixture(scope="module")
def server(model_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("tfs_lifecycle")
    shutil.copytree(model_store / "native" / "1", root / "grow" / "1")
    shutil.copytree(model_store / "native" / "1", root / "warm" / "1")
    _write_warmup(root / "warm" / "1", ["serving_default", "serving_default"])
    shutil.copytree(model_store / "native" / "1", root / "badwarm" / "1")
    _write_warmup(root / "badwarm" / "1", ["no_such_signature"])
    (root / "models.config").write_text(CONFIG.format(extra=BADWARM))
    proc = ServerProcess(
        "--model_config_file=models.config",
        "--model_config_file_poll_wait_seconds=1",
        "--file_system_poll_wait_seconds=0.3",
        log_path=root / "server.log",
        cwd=root,
    )
    try:
        proc.wait_available({"grow": 1, "warm": 1})
        yield proc
    finally:
        proc.stop()


def _status(server: ServerProcess, model: str) -> dict[str, dict]:
    body = httpx.get(f"{server.rest_url}/v1/models/{model}", timeout=10).json()
    return {v["version"]: v for v in body.get("model_version_status", [])}


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.2)


def test_warmup_replayed(server: ServerProcess) -> None:
    assert _status(server, "warm")["1"]["state"] == "AVAILABLE"
    assert "Replayed 2 warmup records for warm version 1" in server.log_text()


def test_warmup_failure_fails_the_load(server: ServerProcess) -> None:
    entry = _status(server, "badwarm")["1"]
    assert entry["state"] == "END"
    assert entry["status"]["error_code"] != "OK"
    assert "Warmup request 0" in entry["status"]["error_message"]
    assert "no_such_signature" in entry["status"]["error_message"]


async def test_new_version_under_load_fails_nothing(
    server: ServerProcess, model_store: Path
) -> None:
    root = server.root
    assert root is not None
    failures: list[str] = []
    seen: list[int] = []
    stop_at = time.monotonic() + 3.0

    async def client() -> None:
        async with httpx.AsyncClient(base_url=server.rest_url, timeout=10) as http:
            while time.monotonic() < stop_at:
                response = await http.post(
                    "/v1/models/grow:predict", json={"instances": [[1.0, 2.0, 3.0]]}
                )
                if response.status_code != 200:
                    failures.append(response.text)
                else:
                    seen.append(response.json()["predictions"][0]["version"])

    async def publish() -> None:
        await asyncio.sleep(0.5)
        # Copy under a non-numeric name, then rename: the poller never sees half a model.
        staging = root / "grow" / "staging-2"
        await asyncio.to_thread(shutil.copytree, model_store / "native" / "2", staging)
        staging.rename(root / "grow" / "2")

    await asyncio.wait_for(asyncio.gather(client(), client(), publish()), timeout=30)
    assert failures == []
    assert seen[0] == 1
    assert seen[-1] == 2, "version 2 was not picked up within the load window"
    # latest{1}: version 1 is unloaded once version 2 serves.
    await asyncio.to_thread(
        _wait_for,
        lambda: (
            {k: v["state"] for k, v in _status(server, "grow").items()}
            == {"1": "END", "2": "AVAILABLE"}
        ),
        10,
        "version 1 not unloaded",
    )
    async with httpx.AsyncClient(base_url=server.rest_url, timeout=10) as http:
        response = await http.post(
            "/v1/models/grow/versions/1:predict", json={"instances": [[1.0, 2.0, 3.0]]}
        )
    assert response.status_code == 404


def test_config_file_reload(server: ServerProcess, model_store: Path) -> None:
    root = server.root
    assert root is not None
    shutil.copytree(model_store / "tf1" / "1", root / "added" / "1")
    new_config = CONFIG.format(extra='config { name: "added" base_path: "added" }')
    staging = root / "models.config.new"
    staging.write_text(new_config)
    staging.replace(root / "models.config")

    def added_serves() -> bool:
        response = httpx.post(
            f"{server.rest_url}/v1/models/added:predict", json={"instances": [[1.0, 1.0]]}
        )
        return response.status_code == 200

    _wait_for(added_serves, 30, "model 'added' never became available")
    response = httpx.get(f"{server.rest_url}/v1/models/badwarm")
    assert response.status_code == 404
    assert "Could not find any versions of model badwarm" in response.json()["error"]
