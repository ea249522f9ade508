"""Manifest validation: every broken manifest gives one line naming file, line, model, field."""

from __future__ import annotations

import pytest

from tandem.errors import ManifestError
from tandem.manifest import load_manifest

GOOD_MODEL = """\
  - name: m
    framework: pytorch
    format: torchscript
    source: examples.digits.torch_models:train_mlp
    inputs:
      - {name: pixels, dtype: float32, shape: [-1, 64]}
    outputs:
      - {name: probabilities, dtype: float32, shape: [-1, 10]}
"""


def manifest(model: str = GOOD_MODEL, head: str = "") -> str:
    return f"{head}models:\n{model}"


BROKEN = [
    # (id, manifest text, fragments the single-line message must contain)
    ("empty", "", ["models.yaml", "empty"]),
    ("not-yaml", "models: [\n  - {name: x\n", ["models.yaml:", "not valid YAML"]),
    ("not-mapping", "- a\n- b\n", ["models.yaml:1", "mapping"]),
    ("no-models", "servers: {}\n", ["models", "Field required"]),
    (
        "missing-field",
        manifest(GOOD_MODEL.replace("    source: examples.digits.torch_models:train_mlp\n", "")),
        ["models.yaml:2", "model 'm'", "source", "Field required"],
    ),
    (
        "wrong-dtype",
        manifest(
            GOOD_MODEL.replace("dtype: float32, shape: [-1, 64]", "dtype: float33, shape: [-1, 64]")
        ),
        ["models.yaml:7", "model 'm'", "inputs[0].dtype", "float32"],
    ),
    (
        "unknown-framework",
        manifest(GOOD_MODEL.replace("framework: pytorch", "framework: jax")),
        ["models.yaml:3", "model 'm'", "framework", "'tensorflow' or 'pytorch'"],
    ),
    (
        "pytorch-without-format",
        manifest(GOOD_MODEL.replace("    format: torchscript\n", "")),
        ["models.yaml:2", "model 'm'", "format: required for pytorch"],
    ),
    (
        "format-on-tensorflow",
        manifest(GOOD_MODEL.replace("framework: pytorch", "framework: tensorflow")),
        ["model 'm'", "format: only for pytorch"],
    ),
    (
        "batch-dim-not-free",
        manifest(GOOD_MODEL.replace("shape: [-1, 64]", "shape: [8, 64]")),
        ["models.yaml:7", "inputs[0].shape", "batch"],
    ),
    (
        "zero-dim",
        manifest(GOOD_MODEL.replace("shape: [-1, 64]", "shape: [-1, 0]")),
        ["inputs[0].shape", "positive"],
    ),
    (
        "no-inputs",
        manifest(
            GOOD_MODEL.replace(
                "      - {name: pixels, dtype: float32, shape: [-1, 64]}\n", ""
            ).replace("inputs:", "inputs: []")
        ),
        ["model 'm'", "inputs"],
    ),
    (
        "bad-version",
        manifest(GOOD_MODEL + "    version: 0\n"),
        ["models.yaml:10", "model 'm'", "version", "greater than or equal to 1"],
    ),
    (
        "label-to-unserved-version",
        manifest(GOOD_MODEL + "    version: 2\n    labels: {canary: 5}\n"),
        ["model 'm'", "labels.canary", "not among the served versions"],
    ),
    (
        "unknown-field",
        manifest(GOOD_MODEL + "    replica: 3\n"),
        ["models.yaml:10", "model 'm'", "replica", "Extra inputs are not permitted"],
    ),
    (
        "duplicate-names",
        manifest(GOOD_MODEL + GOOD_MODEL),
        ["declared twice", "'m'"],
    ),
    (
        "duplicate-tensor-names",
        manifest(GOOD_MODEL.replace("name: probabilities", "name: pixels")),
        ["model 'm'", "unique"],
    ),
    (
        "gpu-without-count",
        manifest(GOOD_MODEL + "    device: {kind: gpu}\n"),
        ["model 'm'", "device", "count >= 1"],
    ),
    (
        "bad-allowed-batch-sizes",
        manifest(GOOD_MODEL + "    batching: {max_batch_size: 8, allowed_batch_sizes: [2, 4]}\n"),
        ["model 'm'", "batching", "max_batch_size"],
    ),
    (
        "bad-name",
        manifest(GOOD_MODEL.replace("name: m\n", "name: 'bad name'\n")),
        ["models.yaml:2", "name", "pattern"],
    ),
    (
        "code-source-without-outputs",
        manifest(GOOD_MODEL.split("    outputs:")[0]),
        ["models.yaml:2", "model 'm'", "outputs: Field required for a model built by code"],
    ),
    (
        "signature-on-pytorch",
        manifest(GOOD_MODEL + "    signature: predict\n"),
        ["model 'm'", "signature: only for tensorflow"],
    ),
    (
        "bad-port",
        manifest(head="servers:\n  tfserving: {rest_port: 70000}\n"),
        ["models.yaml:2", "servers.tfserving.rest_port"],
    ),
]


@pytest.mark.parametrize(("text", "fragments"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_broken_manifest_one_clear_line(write_manifest, text: str, fragments: list[str]) -> None:
    path = write_manifest(text)
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert info.value.exit_code == 2


def test_missing_file(tmp_path) -> None:
    with pytest.raises(ManifestError, match="manifest not found"):
        load_manifest(tmp_path / "nope.yaml")


def test_good_manifest_defaults_and_derived_values(write_manifest) -> None:
    m = load_manifest(
        write_manifest(
            manifest(
                GOOD_MODEL
                + "    version: 3\n    version_policy: {policy: latest, num_versions: 2}\n"
            )
        )
    )
    spec = m.model("m")
    assert spec.served_versions == [2, 3]
    assert spec.batching.max_batch_size == 8
    assert spec.device.kind == "cpu"
    assert m.data.servers.tfserving.rest_port == 8501
    assert m.where(spec, "inputs") == "models.yaml:6: model 'm'"
    with pytest.raises(ManifestError, match="no model named 'x'"):
        m.model("x")


def test_fingerprint_tracks_the_spec(write_manifest) -> None:
    a = load_manifest(write_manifest(manifest())).model("m")
    b = load_manifest(write_manifest(manifest(GOOD_MODEL + "    workers: 2\n"))).model("m")
    assert a.fingerprint() == load_manifest(write_manifest(manifest())).model("m").fingerprint()
    assert a.fingerprint() != b.fingerprint()


def test_demo_manifest_is_valid(repo_root) -> None:
    m = load_manifest(repo_root / "models.yaml")
    frameworks = {s.framework for s in m.models}
    formats = {s.format for s in m.models if s.framework == "pytorch"}
    assert frameworks == {"tensorflow", "pytorch"}
    assert formats == {"torchscript", "export", "eager"}


FILE_SOURCES = """\
models:
  - name: hp2
    framework: tensorflow
    source: saved_models/half_plus_two
  - name: hp2_tf2
    framework: tensorflow
    source: saved_models/half_plus_two_tf2
    signature: serving_default
    inputs: [{name: x, dtype: float32, shape: [1]}]
  - name: program
    framework: pytorch
    source: program.pt2
"""


def test_file_sources_leave_io_and_format_to_the_artifact(write_manifest) -> None:
    """inputs/outputs (and a file's PyTorch format) are read from the artifact at export;
    a signature may fix the batch (TF Serving's TF2 half_plus_two takes x of shape [1])."""
    m = load_manifest(write_manifest(FILE_SOURCES))
    hp2, tf2, program = m.models
    assert (hp2.inputs, hp2.outputs, hp2.has_io) == ([], [], False)
    assert tf2.inputs[0].fixed_batch == 1
    assert tf2.inputs[0].concrete_shape(batch=4) == (1,)
    assert not tf2.has_io
    assert program.format is None
    assert hp2.signature == "serving_default"


def test_every_wire_dtype_is_a_manifest_dtype(write_manifest) -> None:
    """The manifest takes its dtypes from the wire contract (uint16/32/64 included)."""
    from wire.dtypes import NAME_TO_V2

    for dtype in NAME_TO_V2:
        text = manifest(
            GOOD_MODEL.replace(
                "dtype: float32, shape: [-1, 64]", f"dtype: {dtype}, shape: [-1, 64]"
            )
        )
        if dtype == "string":  # a PyTorch model takes no string input (its own rule)
            continue
        spec = load_manifest(write_manifest(text)).model("m")
        assert spec.inputs[0].dtype == dtype
        assert spec.inputs[0].to_wire().dtype == dtype


def test_manifest_shape_rule_is_the_wire_rule(write_manifest) -> None:
    bad = manifest(GOOD_MODEL.replace("shape: [-1, 64]", "shape: [-1, 0]"))
    with pytest.raises(
        ManifestError, match=r"inputs\[0\]\.shape.*dimensions are positive sizes or -1"
    ):
        load_manifest(write_manifest(bad))
