"""Stack pieces that need no running server: sample requests, lock, commands."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from tandem.errors import StackError
from tandem.manifest import load_manifest
from tandem.stack import KnownExample, Stack
from tandem.stack.samples import write_sample_requests

MANIFEST = """\
models:
  - name: digits
    framework: pytorch
    format: torchscript
    source: examples.digits.torch_models:train_mlp
    inputs: [{name: pixels, dtype: float32, shape: [-1, 64]}]
    outputs: [{name: label, dtype: int64, shape: [-1]}]
  - name: two_inputs
    framework: tensorflow
    source: saved/two
    inputs:
      - {name: text, dtype: string, shape: [-1]}
      - {name: ids, dtype: int64, shape: [-1, 3]}
    outputs: [{name: score, dtype: float32, shape: [-1]}]
"""


@pytest.fixture
def stack(tmp_path: Path) -> Stack:
    path = tmp_path / "models.yaml"
    path.write_text(MANIFEST)
    return Stack(load_manifest(path), tmp_path / "build")


def test_sample_requests_follow_each_models_spec(stack: Stack) -> None:
    folder = stack.layout.run / "requests"
    paths = write_sample_requests(stack.manifest.models, folder)
    digit_v1 = json.loads(paths["digits"]["v1"].read_text())
    assert len(digit_v1["instances"][0]) == 64
    assert not (folder / "expected_label.txt").exists()
    two_v1 = json.loads(paths["two_inputs"]["v1"].read_text())
    assert two_v1 == {"instances": [{"text": "tandem", "ids": two_v1["instances"][0]["ids"]}]}
    assert len(two_v1["instances"][0]["ids"]) == 3
    two_v2 = json.loads(paths["two_inputs"]["v2"].read_text())
    assert [(t["name"], t["datatype"], t["shape"]) for t in two_v2["inputs"]] == [
        ("text", "BYTES", [1]),
        ("ids", "INT64", [1, 3]),
    ]


def test_lock_refuses_a_second_owner_and_clears_a_stale_one(stack: Stack) -> None:
    run = stack.layout.run
    run.mkdir(parents=True)
    (run / "stack.json").write_text(json.dumps({"owner": os.getppid(), "services": {}}))
    with pytest.raises(StackError, match="already running"):
        stack._acquire()
    (run / "stack.json").write_text(json.dumps({"owner": 2**22 + 12345, "services": {}}))
    stack._acquire()  # a dead owner's lock is stale
    assert json.loads((run / "stack.json").read_text())["owner"] == os.getpid()
    stack._release()
    assert not (run / "stack.json").exists()


def test_commands_use_the_generated_configs(stack: Stack) -> None:
    ts = stack.backend("torchserve").command()
    assert "--ncs" in ts
    assert str(stack.layout.config / "config.properties") in ts
    assert "--disable-token-auth" not in ts
    tf = stack.backend("tfserving").command()
    assert f"--model_config_file={stack.layout.config / 'models.config'}" in tf
    assert "--enable_batching=true" in tf
    assert stack.backend("torchserve").cwd() == stack.layout.torchserve_home


def test_a_known_example_goes_to_every_model_that_takes_it(stack: Stack) -> None:
    """Demo data is passed in: the digit model gets it, the two-input model keeps samples."""
    row = np.linspace(0.0, 1.0, 64, dtype=np.float32).reshape(1, 64)
    folder = stack.layout.run / "requests"
    paths = write_sample_requests(stack.manifest.models, folder, KnownExample(row, label=6))
    # float32 travels as float32 text (shortest round trip): compare as float32, exactly.
    v1 = json.loads(paths["digits"]["v1"].read_text())
    assert list(v1) == ["instances"]
    np.testing.assert_array_equal(np.asarray(v1["instances"], np.float32), row)
    v2 = json.loads(paths["digits"]["v2"].read_text())
    (tensor,) = v2["inputs"]
    assert {k: tensor[k] for k in ("name", "datatype", "shape")} == {
        "name": "pixels",
        "datatype": "FP32",
        "shape": [1, 64],
    }
    np.testing.assert_array_equal(np.asarray(tensor["data"], np.float32), row[0])
    assert json.loads(paths["two_inputs"]["v1"].read_text())["instances"][0]["text"] == "tandem"
    assert (folder / "expected_label.txt").read_text() == "6\n"


def test_one_service_per_kind_and_the_gateway_gets_what_each_backend_needs(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stack builds each kind's own service (`BackendKind.local_service`); the gateway's
    environment carries the TorchServe token file, which `--insecure-dev` unsets."""
    from tandem.backend_kinds import KINDS

    assert [s.name for s in stack.backends] == [k.id for k in KINDS]
    assert all(stack.backend(k) is stack.backend(k.id) for k in KINDS)
    assert stack.gateway is not None
    ts = stack.backend("torchserve")
    env = stack.gateway.environment()
    assert env["TANDEM_GATEWAY_TORCHSERVE_TOKEN_FILE"] == str(ts.key_file)
    insecure = Stack(stack.manifest, tmp_path / "other", insecure_dev=True)
    assert insecure.gateway is not None
    monkeypatch.setenv("TANDEM_GATEWAY_TORCHSERVE_TOKEN_FILE", "/elsewhere")
    assert "TANDEM_GATEWAY_TORCHSERVE_TOKEN_FILE" not in insecure.gateway.environment()
    assert "--disable-token-auth" in insecure.backend("torchserve").command()
