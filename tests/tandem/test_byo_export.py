"""Bring your own model: artifacts Tandem did not write, exported as they are.

The artifacts come from `byo_artifacts` (TF1 graph, TF2 tf.Module, Keras 3 export,
TorchScript script and trace, .pt2, state_dict + class), built in the test itself.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from byo_artifacts import TABLE, VERSION_DIR, manifest_text, write_all

from tandem.errors import ExportError
from tandem.export import export_models, inspect_snippet, resolve_manifest
from tandem.manifest import TensorSpec, load_manifest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_all(tmp_path_factory.mktemp("byo"))


@pytest.fixture(scope="module")
def byo_build(artifacts: dict[str, Path]) -> tuple[Path, list]:
    root = next(iter(artifacts.values())).parent
    path = root / "models.yaml"
    path.write_text(manifest_text(artifacts))
    out = root / "build"
    return out, export_models(load_manifest(path), out=out)


def _digests(root: Path) -> dict[str, str]:
    files = [root / "saved_model.pb", *sorted((root / "variables").rglob("*"))]
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in files
        if p.is_file()
    }


def test_every_artifact_exports_with_parity(byo_build: tuple[Path, list]) -> None:
    _, results = byo_build
    assert [r.model for r in results] == [c.name for c in TABLE]
    for r in results:
        assert r.parity, r.model
        assert r.parity_ok, (r.model, r.parity)


@pytest.mark.parametrize(
    ("name", "source_dir"),
    [
        ("hp2_tf1", f"half_plus_two_tf1/{VERSION_DIR}"),
        ("hp2_tf2", f"half_plus_two_tf2/{VERSION_DIR}"),
        ("tf2_multi", "scorer"),
        ("keras_export", "keras_export"),
    ],
)
def test_savedmodel_copied_byte_identical_with_warmup(
    byo_build: tuple[Path, list], artifacts: dict[str, Path], name: str, source_dir: str
) -> None:
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    out, _ = byo_build
    source = next(iter(artifacts.values())).parent / source_dir
    copy = out / "tensorflow" / name / "1"
    assert _digests(copy) == _digests(source)
    assert len(_digests(source)) >= 3  # saved_model.pb, variables index and data
    spec = resolve_manifest(load_manifest(out.parent / "models.yaml"), out).model(name)
    warmup = copy / "assets.extra" / "tf_serving_warmup_requests"
    records = list(tf.data.TFRecordDataset(str(warmup)).as_numpy_iterator())
    assert len(records) == 2
    for raw in records:
        request = prediction_log_pb2.PredictionLog.FromString(raw).predict_log.request
        assert request.model_spec.signature_name == spec.signature
        assert set(request.inputs) == {s.name for s in spec.inputs}


@pytest.mark.parametrize(
    ("name", "file"), [("ts_traced", "model.pt"), ("pt2_program", "model.pt2")]
)
def test_torch_file_shipped_as_is(
    byo_build: tuple[Path, list], artifacts: dict[str, Path], name: str, file: str
) -> None:
    out, _ = byo_build
    with zipfile.ZipFile(out / "torchserve" / "model-store" / f"{name}.mar") as zf:
        assert zf.read(file) == artifacts[name].read_bytes()


def test_io_read_from_signatures_and_recorded(byo_build: tuple[Path, list]) -> None:
    """No inputs/outputs in the manifest: they come from the artifact, and the record keeps
    them so configs need not open the artifact again."""
    out, _ = byo_build
    raw = load_manifest(out.parent / "models.yaml")
    assert not raw.model("hp2_tf1").inputs
    resolved = resolve_manifest(raw, out)
    f32 = "float32"
    expect = {
        "hp2_tf1": ([("x", f32, [-1, 1])], [("y", f32, [-1, 1])]),
        "hp2_tf2": ([("x", f32, [1])], [("y", f32, [1])]),
        "tf2_multi": (
            [("bonus", "int64", [-1]), ("features", f32, [-1, 3])],
            [("top", "int64", [-1]), ("total", f32, [-1])],
        ),
        "keras_export": ([("features", f32, [-1, 2])], [("output_0", f32, [-1, 2])]),
        "pt2_program": (
            [("a", f32, [-1, 2]), ("b", f32, [-1, 2])],
            [("sum", f32, [-1, 2]), ("prod", f32, [-1])],
        ),
    }
    for name, (inputs, outputs) in expect.items():
        spec = resolved.model(name)
        assert [(t.name, t.dtype, t.shape) for t in spec.inputs] == inputs, name
        assert [(t.name, t.dtype, t.shape) for t in spec.outputs] == outputs, name
    assert not resolved.model("hp2_tf2").batching.enabled  # its signature fixes the batch at 1
    assert resolved.model("hp2_tf1").batching.enabled
    assert resolved.model("pt2_program").format == "export"
    assert resolved.model("ts_scripted").format == "torchscript"
    assert resolved.model("state_dict").format == "eager"


def test_inspect_snippet_pastes_into_a_manifest(artifacts: dict[str, Path], tmp_path: Path) -> None:
    snippets = {
        name: inspect_snippet(artifacts[name]) for name in ("hp2_tf1", "hp2_tf2", "pt2_program")
    }
    assert "- {name: x, dtype: float32, shape: [-1, 1]}" in snippets["hp2_tf1"]
    assert "# other signatures: classify_x_to_y, regress_x2_to_y3" in snippets["hp2_tf1"]
    assert "- {name: y, dtype: float32, shape: [1]}" in snippets["hp2_tf2"]
    assert "format: export" in snippets["pt2_program"]
    path = tmp_path / "models.yaml"
    path.write_text("models:\n" + "".join(snippets.values()))
    manifest = load_manifest(path)
    assert [m.name for m in manifest.models] == [
        "half_plus_two_tf1",
        "half_plus_two_tf2",
        "two_inputs",
    ]
    for spec in manifest.models:  # declared as inspect printed them: agrees with the artifact
        assert spec.has_io
        assert resolve_manifest(manifest).model(spec.name) == spec


def test_inspect_named_signature_and_torchscript(artifacts: dict[str, Path]) -> None:
    snippet = inspect_snippet(artifacts["tf2_multi"], "score")
    body = yaml.safe_load("models:\n" + snippet)["models"][0]
    assert body["signature"] == "score"
    assert [TensorSpec(**t).name for t in body["inputs"]] == ["bonus", "features"]
    ts = inspect_snippet(artifacts["ts_scripted"])
    assert "names its inputs (x) but not their dtypes or shapes" in ts
    assert "inputs:\n" not in ts


def _copy_versions(src: Path, dest: Path, versions: list[str]) -> Path:
    for v in versions:
        shutil.copytree(src / VERSION_DIR, dest / v)
    return dest


@pytest.mark.parametrize(
    ("dirs", "version", "picked"),
    [
        (["00000007", "00000123"], 1, "00000123"),  # none matches: the latest, as TF Serving
        (["00000007", "00000123"], 7, "00000007"),  # the manifest's version, zero-padded
        (["7", "notaversion"], 1, "7"),  # other directories are ignored
    ],
)
def test_version_directory_choice(
    artifacts: dict[str, Path], tmp_path: Path, dirs: list[str], version: int, picked: str
) -> None:
    from tandem.export.savedmodel import find_savedmodel

    base = _copy_versions(artifacts["hp2_tf1"], tmp_path / "hp2", [d for d in dirs if d[0] != "n"])
    (base / "notaversion").mkdir(exist_ok=True)
    assert find_savedmodel(base, version) == base / picked


def test_not_a_savedmodel_is_one_clear_error(tmp_path: Path) -> None:
    from tandem.export.savedmodel import find_savedmodel

    (tmp_path / "empty").mkdir()
    with pytest.raises(ExportError, match=r"holds no saved_model\.pb"):
        find_savedmodel(tmp_path / "empty")


# --------------------------------------------------------------------- failures through the CLI

FAILURES = {
    # id: (manifest entry for the hp2 TF1 model or a torch file, fragments of the one line)
    "dtype-disagrees": (
        "hp2_tf1",
        "framework: tensorflow\n    inputs: [{name: x, dtype: float64, shape: [-1, 1]}]",
        ["models.yaml:5", "model 'bad'", "inputs: 'x' declared float64", "says float32"],
    ),
    "name-disagrees": (
        "hp2_tf1",
        "framework: tensorflow\n    outputs: [{name: z, dtype: float32, shape: [-1, 1]}]",
        ["model 'bad'", "outputs: the manifest declares ['z']", "has ['y']"],
    ),
    "shape-disagrees": (
        "hp2_tf1",
        "framework: tensorflow\n    inputs: [{name: x, dtype: float32, shape: [-1, 2]}]",
        ["model 'bad'", "declared shape [-1, 2]", "says [-1, 1]"],
    ),
    "no-such-signature": (
        "hp2_tf1",
        "framework: tensorflow\n    signature: predict_images",
        ["model 'bad'", "no signature 'predict_images'", "serving_default", "signature:"],
    ),
    "torchscript-needs-io": (
        "ts_scripted",
        "framework: pytorch",
        ["model 'bad'", "inputs: required", "names its inputs (x)", "declare them"],
    ),
    "wrong-framework": (
        "pt2_program",
        "framework: tensorflow",
        ["model 'bad'", "SavedModel directory"],
    ),
    "missing-path": (
        None,
        "framework: tensorflow",
        ["model 'bad'", "does not exist"],
    ),
}


@pytest.mark.parametrize(("artifact", "entry", "fragments"), FAILURES.values(), ids=FAILURES)
def test_export_failure_is_one_line_exit_2_nothing_left(
    artifacts: dict[str, Path],
    tmp_path: Path,
    export_error,
    artifact: str | None,
    entry: str,
    fragments: list[str],
) -> None:
    source = artifacts[artifact] if artifact else tmp_path / "nowhere"
    path = tmp_path / "models.yaml"
    path.write_text(f"models:\n  - name: bad\n    source: {source}\n    {entry}\n")
    out = tmp_path / "build"
    line = export_error(path, out)
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    assert not out.exists(), list(out.rglob("*"))


def test_cli_inspect_prints_snippet(artifacts: dict[str, Path], repo_root: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tandem.cli", "inspect", str(artifacts["hp2_tf2"])],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=repo_root,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    entry = yaml.safe_load("models:\n" + proc.stdout)["models"][0]
    assert entry["framework"] == "tensorflow"
    assert entry["inputs"] == [{"name": "x", "dtype": "float32", "shape": [1]}]
    assert entry["outputs"] == [{"name": "y", "dtype": "float32", "shape": [1]}]
