"""Real-world model artifacts that Tandem did not write, built here the way users build them.

Each writer puts one artifact under a directory and returns its path; `TABLE` lists them with
a manifest entry (no inputs/outputs where the artifact states them) and one request with the
exact answer it must get. The two half_plus_two models reproduce the signatures of TF
Serving's `saved_model_half_plus_two_cpu` (TF1 graph) and `saved_model_half_plus_two_tf2_cpu`
(TF2 `tf.Module`) testdata, as upstream's generator script defines them, with our own code.
"""

from __future__ import annotations

import os
import textwrap
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

VERSION_DIR = "00000123"  # as upstream's testdata: TF Serving parses it as version 123


def _feature_spec(tf: Any) -> dict[str, Any]:
    return {
        "x": tf.io.FixedLenFeature([1], dtype=tf.float32),
        "x2": tf.io.FixedLenFeature([1], dtype=tf.float32, default_value=[0.0]),
    }


def write_half_plus_two_tf1(root: Path) -> Path:
    """TF1 graph through SavedModelBuilder: y = a*x + b from parsed tf.Examples; `x` is an
    intermediate tensor that serving_default feeds directly (so a TF2 load cannot run it)."""
    import tensorflow as tf

    v1 = tf.compat.v1
    export_dir = root / "half_plus_two_tf1" / VERSION_DIR
    assets = root / "half_plus_two_tf1_assets"
    assets.mkdir(parents=True, exist_ok=True)
    (assets / "foo.txt").write_text("asset-file-contents")
    builder = v1.saved_model.Builder(str(export_dir))
    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as sess:
        a = v1.Variable(0.5, name="a")
        b = v1.Variable(2.0, name="b")
        c = v1.Variable(3.0, name="c")
        serialized = v1.placeholder(tf.string, name="tf_example", shape=[None])
        parsed = v1.parse_example(serialized, _feature_spec(tf))
        x = tf.identity(parsed["x"], name="x")
        y = tf.identity(a * x + b, name="y")
        y2 = tf.identity(a * x + c, name="y2")
        x2 = tf.identity(parsed["x2"], name="x2")
        a2 = v1.Variable(0.5, name="a2")
        c2 = v1.Variable(3.0, name="c2")
        y3 = tf.identity(a2 * x2 + c2, name="y3")
        asset_path = tf.constant(str(assets / "foo.txt"))
        v1.add_to_collection(v1.GraphKeys.ASSET_FILEPATHS, asset_path)
        filename = v1.Variable("foo.txt", name="filename_tensor", trainable=False, collections=[])
        info = v1.saved_model.utils.build_tensor_info
        sig = v1.saved_model.signature_def_utils.build_signature_def
        consts = v1.saved_model.signature_constants

        def regress(inp: Any, out: Any) -> Any:
            return sig(
                {consts.REGRESS_INPUTS: info(inp)},
                {consts.REGRESS_OUTPUTS: info(out)},
                consts.REGRESS_METHOD_NAME,
            )

        signatures = {
            "regress_x_to_y": regress(serialized, y),
            "regress_x_to_y2": regress(serialized, y2),
            "regress_x2_to_y3": regress(x2, y3),
            "classify_x_to_y": sig(
                {consts.CLASSIFY_INPUTS: info(serialized)},
                {consts.CLASSIFY_OUTPUT_SCORES: info(y)},
                consts.CLASSIFY_METHOD_NAME,
            ),
            consts.DEFAULT_SERVING_SIGNATURE_DEF_KEY: sig(
                {"x": info(x)}, {"y": info(y)}, consts.PREDICT_METHOD_NAME
            ),
        }
        sess.run(v1.global_variables_initializer())
        builder.add_meta_graph_and_variables(
            sess,
            [v1.saved_model.tag_constants.SERVING],
            signature_def_map=signatures,
            assets_collection=v1.get_collection(v1.GraphKeys.ASSET_FILEPATHS),
            main_op=tf.group(filename.assign("foo.txt")),
        )
    builder.save()
    return export_dir.parent


def write_half_plus_two_tf2(root: Path) -> Path:
    """Native TF2 tf.Module: serving_default takes x of shape [1]; five regress/classify
    signatures beside it, three of them over serialized tf.Examples."""
    import tensorflow as tf

    assets = root / "half_plus_two_tf2_assets"
    assets.mkdir(parents=True, exist_ok=True)
    (assets / "foo.txt").write_text("asset-file-contents")
    f32_1 = tf.TensorSpec(shape=[1], dtype=tf.float32)

    class HalfPlusTwo(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = tf.Variable(0.5, name="a")
            self.b = tf.Variable(2.0, name="b")
            self.c = tf.Variable(3.0, name="c")
            self.asset = tf.saved_model.Asset(str(assets / "foo.txt"))

        def compute(self, x: Any, inc: Any) -> Any:
            return self.a * x + inc

        def parse(self, serialized: Any) -> Any:
            return tf.io.parse_example(serialized, _feature_spec(tf))["x"]

        @tf.function(input_signature=[f32_1])
        def predict(self, x: Any) -> Any:
            return {"y": self.compute(x, self.b)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def regress_xy(self, serialized: Any) -> Any:
            return {"outputs": self.compute(self.parse(serialized), self.b)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def regress_xy2(self, serialized: Any) -> Any:
            return {"outputs": self.compute(self.parse(serialized), self.c)}

        @tf.function(input_signature=[tf.TensorSpec([1], tf.float32, name="inputs")])
        def regress_x2y3(self, x2: Any) -> Any:
            return {"outputs": self.compute(x2, self.c)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def classify_xy(self, serialized: Any) -> Any:
            return {"scores": self.compute(self.parse(serialized), self.b)}

        @tf.function(input_signature=[tf.TensorSpec([1], tf.float32, name="inputs")])
        def classify_x2y3(self, x2: Any) -> Any:
            return {"scores": self.compute(x2, self.c)}

    m = HalfPlusTwo()
    export_dir = root / "half_plus_two_tf2" / VERSION_DIR
    signatures = {
        "serving_default": m.predict,
        "regress_x_to_y": m.regress_xy,
        "regress_x_to_y2": m.regress_xy2,
        "regress_x2_to_y3": m.regress_x2y3,
        "classify_x_to_y": m.classify_xy,
        "classify_x2_to_y3": m.classify_x2y3,
    }
    tf.saved_model.save(m, str(export_dir), signatures=signatures)
    return export_dir.parent


def write_tf2_multi(root: Path) -> Path:
    """A TF2 tf.Module whose `score` signature takes two inputs of two dtypes; it is served
    by name (manifest `signature: score`), a plain `serving_default` sits beside it."""
    import tensorflow as tf

    class Scorer(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable([[1.0, 2.0, 3.0]], name="w")

        @tf.function(
            input_signature=[
                tf.TensorSpec([None, 3], tf.float32, name="features"),
                tf.TensorSpec([None], tf.int64, name="bonus"),
            ]
        )
        def score(self, features: Any, bonus: Any) -> Any:
            total = tf.reduce_sum(features * self.w, axis=1) + tf.cast(bonus, tf.float32)
            return {"total": total, "top": tf.argmax(features, axis=1)}

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="features")])
        def plain(self, features: Any) -> Any:
            return {"doubled": features * 2.0}

    m = Scorer()
    path = root / "scorer"  # no version directory: the SavedModel itself
    tf.saved_model.save(m, str(path), signatures={"serving_default": m.plain, "score": m.score})
    return path


def write_keras_export(root: Path) -> Path:
    """Keras 3 `model.export()`: a Dense layer with set weights, so answers are exact."""
    import keras
    import numpy as np

    inputs = keras.Input(shape=(2,), name="features")
    outputs = keras.layers.Dense(2, name="dense")(inputs)
    model = keras.Model(inputs, outputs)
    model.get_layer("dense").set_weights(
        [np.array([[1.0, 2.0], [3.0, 4.0]], np.float32), np.array([0.5, -1.0], np.float32)]
    )
    path = root / "keras_export"
    model.export(str(path), verbose=False)
    return path


USER_MODULE = '''\
"""A user's own model file (the eager / state_dict case)."""

import torch


class Affine(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)
'''


def _affine_weights(torch: Any) -> dict[str, Any]:
    return {
        "linear.weight": torch.tensor([[1.0, 2.0], [3.0, 4.0]]),
        "linear.bias": torch.tensor([0.5, -1.0]),
    }


def write_state_dict(root: Path) -> Path:
    import torch

    (root / "user_models.py").write_text(USER_MODULE)
    path = root / "affine_state.pt"
    torch.save(_affine_weights(torch), str(path))
    return path


def _torch_modules() -> tuple[Any, Any, Any]:
    import torch

    class Gate(torch.nn.Module):
        """Data-dependent control flow: scripted, not traced."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if bool(x.sum() > 0):
                return x * 2.0 + 1.0
            return x - 1.0

    class Linear(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(2, 2)
            self.linear.load_state_dict(
                {k.removeprefix("linear."): v for k, v in _affine_weights(torch).items()}
            )

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            y = self.linear(x)
            return y, y.argmax(dim=1)

    class TwoInputs(torch.nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"sum": a + b, "prod": (a * b).sum(dim=1)}

    return Gate, Linear, TwoInputs


def _quiet_jit() -> Any:
    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.filterwarnings("ignore", r"`torch\.jit\.\w+` is deprecated", DeprecationWarning)
    return ctx


def write_torchscript_script(root: Path) -> Path:
    import torch

    gate, _, _ = _torch_modules()
    path = root / "gate_scripted.pt"
    ctx = _quiet_jit()
    try:
        torch.jit.save(torch.jit.script(gate()), str(path))
    finally:
        ctx.__exit__(None, None, None)
    return path


def write_torchscript_trace(root: Path) -> Path:
    import torch

    _, linear, _ = _torch_modules()
    path = root / "linear_traced.pt"
    ctx = _quiet_jit()
    try:
        traced = torch.jit.trace(linear().eval(), (torch.rand(3, 2),))
        torch.jit.save(traced, str(path))
    finally:
        ctx.__exit__(None, None, None)
    return path


def write_pt2(root: Path) -> Path:
    import torch

    _, _, two = _torch_modules()
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(
        two(),
        (torch.rand(3, 2), torch.rand(3, 2)),
        dynamic_shapes=({0: batch}, {0: batch}),
    )
    path = root / "two_inputs.pt2"
    torch.export.save(program, str(path))
    return path


@dataclass(frozen=True)
class Case:
    """One artifact, its manifest entry, and a request with the answer it must get."""

    name: str
    write: Callable[[Path], Path]
    entry: str
    """Manifest lines after name/source (framework, format, declared tensors...)."""
    inputs: dict[str, Any]
    """input name → nested list (batch first)."""
    expected: dict[str, Any]
    """output name → nested list: exact."""
    dtypes: dict[str, str] = field(default_factory=dict)
    """v2 datatypes of the inputs (FP32 when absent)."""


TABLE: list[Case] = [
    Case(
        "hp2_tf1",
        write_half_plus_two_tf1,
        "framework: tensorflow",
        {"x": [[1.0], [2.0], [5.0]]},
        {"y": [[2.5], [3.0], [4.5]]},
    ),
    Case(
        "hp2_tf2",
        write_half_plus_two_tf2,
        "framework: tensorflow",
        {"x": [3.0]},
        {"y": [3.5]},
    ),
    Case(
        "tf2_multi",
        write_tf2_multi,
        "framework: tensorflow\n    signature: score",
        {"features": [[1.0, 0.0, 2.0], [0.0, 1.0, 0.0]], "bonus": [10, -1]},
        {"total": [17.0, 1.0], "top": [2, 1]},
        {"bonus": "INT64"},
    ),
    Case(
        "keras_export",
        write_keras_export,
        "framework: tensorflow",
        {"features": [[1.0, 1.0], [2.0, 0.0]]},
        {"output_0": [[4.5, 5.0], [2.5, 3.0]]},
    ),
    Case(
        "ts_scripted",
        write_torchscript_script,
        "framework: pytorch\n"
        "    inputs: [{name: x, dtype: float32, shape: [-1, 2]}]\n"
        "    outputs: [{name: y, dtype: float32, shape: [-1, 2]}]",
        {"x": [[1.0, 2.0]]},
        {"y": [[3.0, 5.0]]},
    ),
    Case(
        "ts_traced",
        write_torchscript_trace,
        "framework: pytorch\n"
        "    inputs: [{name: x, dtype: float32, shape: [-1, 2]}]\n"
        "    outputs:\n"
        "      - {name: scores, dtype: float32, shape: [-1, 2]}\n"
        "      - {name: label, dtype: int64, shape: [-1]}",
        {"x": [[1.0, 1.0], [2.0, 0.0]]},
        {"scores": [[3.5, 6.0], [2.5, 5.0]], "label": [1, 1]},
    ),
    Case(
        "pt2_program",
        write_pt2,
        "framework: pytorch",
        {"a": [[1.0, 2.0], [3.0, 4.0]], "b": [[0.5, 0.5], [1.0, -1.0]]},
        {"sum": [[1.5, 2.5], [4.0, 3.0]], "prod": [1.5, -1.0]},
    ),
    Case(
        "state_dict",
        write_state_dict,
        "framework: pytorch\n"
        "    model_class: user_models:Affine\n"
        "    inputs: [{name: x, dtype: float32, shape: [-1, 2]}]\n"
        "    outputs: [{name: y, dtype: float32, shape: [-1, 2]}]",
        {"x": [[1.0, 1.0]]},
        {"y": [[3.5, 6.0]]},
    ),
]


def write_all(root: Path) -> dict[str, Path]:
    """Every artifact of TABLE under `root`; name → source path."""
    root.mkdir(parents=True, exist_ok=True)
    return {case.name: case.write(root) for case in TABLE}


def manifest_text(sources: dict[str, Path], head: str = "", names: list[str] | None = None) -> str:
    """A manifest listing the table's artifacts by path, inputs/outputs only where needed."""
    lines = [head, "models:"] if head else ["models:"]
    for case in TABLE:
        if names is not None and case.name not in names:
            continue
        lines.append(f"  - name: {case.name}")
        lines.append(f"    source: {sources[case.name]}")
        lines.append("    " + textwrap.dedent(case.entry).strip("\n"))
    return "\n".join(lines) + "\n"
