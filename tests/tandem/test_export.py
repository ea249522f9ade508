"""Export pipeline end to end: the demo models, their artifacts, parity and bad input."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tandem.export import export_models, write_build_configs
from tandem.manifest import load_manifest

pytestmark = pytest.mark.integration

TF_MODELS = ["digits_mlp_tf", "digits_cnn_tf", "digits_cnn224_tf"]
TORCH_MODELS = {
    "digits_mlp_torch": "torchscript",
    "digits_cnn_torch": "export",
    "digits_dynamic_torch": "eager",
    "digits_cnn224_torch": "export",
}


def _record(build: Path, name: str) -> dict:
    return json.loads((build / "exports" / name / "1.json").read_text())


@pytest.mark.parametrize("name", TF_MODELS + list(TORCH_MODELS))
def test_accuracy_and_parity_recorded(demo_build: Path, name: str) -> None:
    record = _record(demo_build, name)
    assert record["metrics"]["accuracy"] >= 0.95
    assert record["parity"], "no parity check ran"
    for check in record["parity"]:
        assert max(check["max_abs_diff"].values()) <= 1e-5, check


@pytest.mark.parametrize("name", TF_MODELS)
def test_savedmodel_signature_matches_manifest(
    demo_build: Path, repo_root: Path, name: str
) -> None:
    from tandem.export.savedmodel import find_savedmodel, open_savedmodel

    spec = load_manifest(repo_root / "models.yaml").model(name)
    version_dir = demo_build / "tensorflow" / name / "1"
    assert (version_dir / "saved_model.pb").is_file()
    with open_savedmodel(find_savedmodel(version_dir)) as saved:
        sig = saved.signature("serving_default")
    assert sig.method == "tensorflow/serving/predict"
    key = lambda t: t.name  # noqa: E731
    assert sorted(sig.inputs, key=key) == sorted(spec.inputs, key=key)
    assert sorted(sig.outputs, key=key) == sorted(spec.outputs, key=key)


@pytest.mark.parametrize("name", TF_MODELS)
def test_warmup_file_is_prediction_log_records(
    demo_build: Path, repo_root: Path, name: str
) -> None:
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    spec = load_manifest(repo_root / "models.yaml").model(name)
    path = demo_build / "tensorflow" / name / "1" / "assets.extra" / "tf_serving_warmup_requests"
    records = list(tf.data.TFRecordDataset(str(path)).as_numpy_iterator())
    assert len(records) == 2
    for raw in records:
        log = prediction_log_pb2.PredictionLog.FromString(raw)
        request = log.predict_log.request
        assert request.model_spec.name == name
        assert request.model_spec.signature_name == "serving_default"
        assert set(request.inputs) == {s.name for s in spec.inputs}
        arr = tf.make_ndarray(request.inputs[spec.inputs[0].name])
        assert list(arr.shape[1:]) == spec.inputs[0].shape[1:]


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_same_digit_same_class_in_both_frameworks(demo_build: Path) -> None:
    """The TF and the PyTorch MLP, reloaded from their artifacts, agree on real digits."""
    import tensorflow as tf
    import torch

    from examples.digits.data import load_split

    split = load_split()
    x = split.x_test[:64]
    tf_fn = tf.saved_model.load(str(demo_build / "tensorflow" / "digits_mlp_tf" / "1")).signatures[
        "serving_default"
    ]
    tf_label = tf_fn(pixels=tf.constant(x))["label"].numpy()
    with zipfile.ZipFile(demo_build / "torchserve" / "model-store" / "digits_mlp_torch.mar") as zf:
        scripted = torch.jit.load(zf.open("model.pt"))
    _, torch_label = scripted(torch.from_numpy(x))
    agree = float((tf_label == torch_label.numpy()).mean())
    assert agree >= 0.95
    assert float((tf_label == split.y_test[:64]).mean()) >= 0.9


@pytest.mark.parametrize(("name", "fmt"), list(TORCH_MODELS.items()))
def test_mar_contents(demo_build: Path, name: str, fmt: str) -> None:
    mar = demo_build / "torchserve" / "model-store" / f"{name}.mar"
    with zipfile.ZipFile(mar) as zf:
        names = set(zf.namelist())
        manifest = json.loads(zf.read("MAR-INF/MANIFEST.json"))
        spec = json.loads(zf.read("tandem_spec.json"))
    # The handler and the wire-contract package it imports (issue 7).
    assert {"handler.py", "wire/__init__.py", "wire/v2.py", "tandem_spec.json"} <= names
    assert manifest["model"]["modelName"] == name
    assert manifest["model"]["modelVersion"] == "1"
    assert manifest["model"]["handler"] == "handler.py"
    assert spec["format"] == fmt
    assert spec["serialized_file"] in names
    if fmt == "eager":
        assert spec["model_file"] in names
        assert spec["model_class"] == "DigitsDynamic"


def test_configs_written_for_the_build(demo_build: Path) -> None:
    config = demo_build / "config"
    routes = json.loads((config / "routes.json").read_text())
    assert set(routes["models"]) == set(TF_MODELS) | set(TORCH_MODELS)
    props = (config / "config.properties").read_text()
    assert f"model_store={demo_build / 'torchserve' / 'model-store'}" in props
    assert (
        str(demo_build / "tensorflow" / "digits_mlp_tf") in (config / "models.config").read_text()
    )


def test_up_to_date_export_is_skipped(demo_build: Path, repo_root: Path) -> None:
    manifest = load_manifest(repo_root / "models.yaml")
    before = (demo_build / "torchserve" / "model-store" / "digits_mlp_torch.mar").stat().st_mtime_ns
    [result] = export_models(manifest, ["digits_mlp_torch"], demo_build)
    assert result.skipped
    after = (demo_build / "torchserve" / "model-store" / "digits_mlp_torch.mar").stat().st_mtime_ns
    assert before == after


def _digest(path: Path) -> str:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    h = hashlib.sha256()
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()


NEW_VERSION = """\
models:
  - name: tf_m
    framework: tensorflow
    source: examples.digits.keras_models:train_mlp
    version: {v}
    version_policy: {{policy: latest, num_versions: 2}}
    inputs: [{{name: pixels, dtype: float32, shape: [-1, 64]}}]
    outputs:
      - {{name: probabilities, dtype: float32, shape: [-1, 10]}}
      - {{name: label, dtype: int64, shape: [-1]}}
  - name: torch_m
    framework: pytorch
    format: torchscript
    source: examples.digits.torch_models:train_mlp
    version: {v}
    version_policy: {{policy: latest, num_versions: 2}}
    inputs: [{{name: pixels, dtype: float32, shape: [-1, 64]}}]
    outputs:
      - {{name: probabilities, dtype: float32, shape: [-1, 10]}}
      - {{name: label, dtype: int64, shape: [-1]}}
"""


def test_new_version_is_added_and_old_one_untouched(tmp_path: Path, repo_root: Path) -> None:
    path = tmp_path / "models.yaml"
    out = tmp_path / "build"
    path.write_text(NEW_VERSION.format(v=1))
    export_models(load_manifest(path), out=out)
    v1_tf, v1_mar = (
        out / "tensorflow" / "tf_m" / "1",
        out / "torchserve" / "model-store" / "torch_m.mar",
    )
    digests = (_digest(v1_tf), _digest(v1_mar))

    path.write_text(NEW_VERSION.format(v=2))
    manifest = load_manifest(path)
    results = export_models(manifest, out=out)
    assert not (out / "config").exists(), "the exporter writes no configs; the CLI does"
    write_build_configs(manifest, out)  # as the CLI does
    assert [r.version for r in results] == [2, 2]
    assert (out / "tensorflow" / "tf_m" / "2" / "saved_model.pb").is_file()
    assert (out / "torchserve" / "model-store" / "torch_m.v2.mar").is_file()
    assert (_digest(v1_tf), _digest(v1_mar)) == digests
    props = (out / "config" / "config.properties").read_text()
    assert "load_models=torch_m.mar,torch_m.v2.mar" in props
    assert not list(out.glob(".staging-*"))


BROKEN = {
    "wrong-dtype": (
        "dtype: float32, shape: [-1, 64]",
        "dtype: float33, shape: [-1, 64]",
        "inputs[0].dtype",
    ),
    "unknown-framework": ("framework: pytorch", "framework: jax", "framework"),
    "missing-field": ("    outputs:", "    outputz:", "outputs: Field required"),
    "does-not-import": (
        "examples.digits.torch_models:train_mlp",
        "examples.digits.no_such_module:train",
        "does not import",
    ),
    "shape-disagrees": ("shape: [-1, 64]", "shape: [-1, 65]", "do not fit the model"),
}

ONE_TORCH = """\
models:
  - name: torch_m
    framework: pytorch
    format: torchscript
    source: examples.digits.torch_models:train_mlp
    inputs: [{name: pixels, dtype: float32, shape: [-1, 64]}]
    outputs:
      - {name: probabilities, dtype: float32, shape: [-1, 10]}
      - {name: label, dtype: int64, shape: [-1]}
"""


@pytest.mark.parametrize(("old", "new", "fragment"), list(BROKEN.values()), ids=list(BROKEN))
def test_cli_broken_manifest_exits_2_one_line_no_artifacts(
    tmp_path: Path, export_error, old: str, new: str, fragment: str
) -> None:
    text = ONE_TORCH.replace(old, new)
    assert text != ONE_TORCH
    path = tmp_path / "models.yaml"
    path.write_text(text)
    out = tmp_path / "build"
    line = export_error(path, out)
    assert fragment in line
    assert "models.yaml:" in line
    assert not out.exists() or not any(out.rglob("*")), list(out.rglob("*"))


def test_samples_follow_declared_dtypes() -> None:
    from tandem.export.samples import sample_inputs
    from tandem.manifest import TensorSpec

    specs = [
        TensorSpec(name="a", dtype="float32", shape=[-1, 3]),
        TensorSpec(name="b", dtype="int64", shape=[-1]),
        TensorSpec(name="c", dtype="bool", shape=[-1, -1]),
    ]
    a, b, c = sample_inputs(specs, batch=4)
    assert (a.dtype, a.shape) == (np.float32, (4, 3))
    assert (b.dtype, b.shape) == (np.int64, (4,))
    assert (c.dtype, c.shape) == (np.bool_, (4, 1))
