"""Bring your own model, served: `tandem up` on a manifest that lists artifacts by path.

The manifest names each artifact of `byo_artifacts.TABLE` by path, without inputs/outputs
where the artifact states them (both half_plus_two SavedModels among them). The real CLI
exports, writes configs and starts TF server, TorchServe and the gateway on free loopback
ports; every model must answer exactly through the gateway, over v1 and v2.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from byo_artifacts import TABLE, Case, manifest_text, write_all

from tandem.stack.process import free_port

pytestmark = pytest.mark.integration

SERVERS = """\
servers:
  tfserving: {{grpc_port: {}, rest_port: {}}}
  torchserve:
    inference_port: {}
    management_port: {}
    metrics_port: {}
    grpc_inference_port: {}
    grpc_management_port: {}
  gateway: {{port: {}, grpc_port: {}}}"""


@dataclass
class Served:
    url: str
    headers: dict[str, str]


def _cli(repo_root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tandem.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=repo_root,
        check=False,
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("byo-live")
    sources = write_all(root / "artifacts")
    ports = [free_port() for _ in range(9)]
    manifest = root / "artifacts" / "models.yaml"  # beside user_models.py (model_class)
    manifest.write_text(manifest_text(sources, head=SERVERS.format(*ports)))
    out = root / "build"
    log_path = root / "up.log"
    with log_path.open("w") as log:
        up = subprocess.Popen(
            [sys.executable, "-m", "tandem.cli", "up", "-m", str(manifest), "-o", str(out)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=repo_root,
            env={**os.environ, "COLUMNS": "200"},
        )
        try:
            deadline = time.monotonic() + 420
            while "ready." not in log_path.read_text():
                assert up.poll() is None, log_path.read_text()[-4000:]
                assert time.monotonic() < deadline, "tandem up never became ready"
                time.sleep(1)
            key = (out / "run" / "api_key").read_text().strip()
            yield Served(f"http://127.0.0.1:{ports[7]}", {"X-API-Key": key})
        finally:
            _cli(repo_root, "down", "--out", str(out))
            try:
                up.wait(timeout=60)
            except subprocess.TimeoutExpired:
                up.kill()
                up.wait(timeout=10)


def _v1_body(case: Case) -> dict[str, Any]:
    names = list(case.inputs)
    if len(names) == 1:
        return {"instances": case.inputs[names[0]]}
    columns = [case.inputs[n] for n in names]
    return {"instances": [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]}


def _v1_expected(case: Case) -> dict[str, Any]:
    names = list(case.expected)
    if len(names) == 1:
        return {"predictions": case.expected[names[0]]}
    columns = [case.expected[n] for n in names]
    return {
        "predictions": [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
    }


def _flat(value: Any) -> list[Any]:
    return [x for item in value for x in _flat(item)] if isinstance(value, list) else [value]


def _shape(value: Any) -> list[int]:
    return [len(value), *_shape(value[0])] if isinstance(value, list) else []


@pytest.mark.parametrize("case", TABLE, ids=[c.name for c in TABLE])
def test_v1_predict_exact(served: Served, case: Case) -> None:
    r = httpx.post(
        f"{served.url}/v1/models/{case.name}:predict",
        json=_v1_body(case),
        headers=served.headers,
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert r.json() == _v1_expected(case)


@pytest.mark.parametrize("case", TABLE, ids=[c.name for c in TABLE])
def test_v2_infer_exact(served: Served, case: Case) -> None:
    body = {
        "inputs": [
            {
                "name": name,
                "datatype": case.dtypes.get(name, "FP32"),
                "shape": _shape(value),
                "data": _flat(value),
            }
            for name, value in case.inputs.items()
        ]
    }
    r = httpx.post(
        f"{served.url}/v2/models/{case.name}/infer", json=body, headers=served.headers, timeout=30
    )
    assert r.status_code == 200, r.text
    got = {o["name"]: (o["shape"], o["data"]) for o in r.json()["outputs"]}
    want = {n: (_shape(v), _flat(v)) for n, v in case.expected.items()}
    assert got == want


def test_tf_serving_quickstart_body(served: Served) -> None:
    # TF Serving's own quickstart: a flat [3] for x: [-1, 1]. TF Serving leaves shapes to the
    # model, so the gateway must pass what TF Serving accepts.
    r = httpx.post(
        f"{served.url}/v1/models/hp2_tf1:predict",
        json={"instances": [1.0, 2.0, 5.0]},
        headers=served.headers,
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"predictions": [2.5, 3.0, 4.5]}
