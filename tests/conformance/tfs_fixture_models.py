"""Fixture SavedModels for the TF Serving conformance suite.

Importable (``write_fixtures(root)``) and runnable: ``python tests/conformance/tfs_fixture_models.py
DIR`` writes the models plus ``DIR/models.config`` so the very same fixtures can be mounted into
the official ``tensorflow/serving`` image (see README.md). Models:

* ``native`` - a TF2 ``tf.Module`` export (what Keras 3 ``export`` produces), versions 1 and 2,
  labels ``stable`` -> 1 and ``canary`` -> 2. Signatures: ``serving_default`` (x: float[-1,3] ->
  doubled, total, version), ``multi`` (a: float[-1,2], b: int64[-1] -> scaled, b_plus_one),
  ``echo_bytes`` (data_bytes: string[-1] -> echo_bytes, length) and ``text`` (text -> upper).
* ``tf1`` - a TF1 graph written with ``tf.compat.v1.saved_model.Builder``: ``serving_default``
  predict (x: float[-1,2] -> y = x0 + 2*x1), ``classify_x`` (classes/scores over features x1, x2)
  and ``regress_x`` (outputs = 2*x1 + x2).
* ``half_plus_two`` and ``half_plus_two_tf2`` - equivalents of TF Serving's own test models
  ``saved_model_half_plus_two_cpu`` (TF1 graph) and ``saved_model_half_plus_two_tf2_cpu``
  (``tf.Module``), written by this file with the signatures that upstream's generator
  (``servables/tensorflow/testdata/saved_model_half_plus_two.py``) declares: y = 0.5x + 2,
  y2 = 0.5x + 3, y3 = 0.5x2 + 3, ``regress_x_to_y`` / ``regress_x_to_y2`` /
  ``classify_x_to_y`` over tf.Examples, ``regress_x2_to_y3`` / ``classify_x2_to_y3`` on a
  tensor (the TF1 graph has no ``classify_x2_to_y3``, as upstream's). Checked locally
  against upstream's stored models: the same signature defs. Like upstream's they live
  in the zero-padded version directory ``00000123/``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import tensorflow as tf

NATIVE = "native"
TF1 = "tf1"
CLASS_LABELS = ("neg", "pos")


class _Native(tf.Module):
    def __init__(self, version: int) -> None:
        super().__init__()
        self.version = tf.constant(version, dtype=tf.int64)

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
    def predict(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
        rows = tf.shape(x, out_type=tf.int64)[0]
        return {
            "doubled": x * 2.0,
            "total": tf.reduce_sum(x, axis=1),
            "version": tf.fill([rows], self.version),
        }

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, 2], tf.float32, name="a"),
            tf.TensorSpec([None], tf.int64, name="b"),
        ]
    )
    def multi(self, a: tf.Tensor, b: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"scaled": a * tf.cast(b, tf.float32)[:, None], "b_plus_one": b + 1}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="data_bytes")])
    def echo_bytes(self, data_bytes: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"echo_bytes": tf.identity(data_bytes), "length": tf.strings.length(data_bytes)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def text(self, text: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"upper": tf.strings.upper(text)}


def write_native(version_dir: Path, version: int) -> Path:
    """Write one version of the ``native`` model into ``version_dir``."""
    module = _Native(version)
    tf.saved_model.save(
        module,
        str(version_dir),
        signatures={
            "serving_default": module.predict.get_concrete_function(),
            "multi": module.multi.get_concrete_function(),
            "echo_bytes": module.echo_bytes.get_concrete_function(),
            "text": module.text.get_concrete_function(),
        },
    )
    return version_dir


def write_tf1(version_dir: Path) -> Path:
    """Write the TF1-graph ``tf1`` model (predict + classify + regress signatures)."""
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as session:
        x = v1.placeholder(tf.float32, [None, 2], name="x")
        y = tf.matmul(x, tf.constant([[1.0], [2.0]]), name="y")

        serialized = v1.placeholder(tf.string, [None], name="tf_example")
        features = v1.io.parse_example(
            serialized,
            {
                "x1": v1.io.FixedLenFeature([], tf.float32, default_value=0.0),
                "x2": v1.io.FixedLenFeature([], tf.float32, default_value=0.0),
            },
        )
        logit = features["x1"] - features["x2"]
        pos = tf.sigmoid(logit)
        scores = tf.stack([1.0 - pos, pos], axis=1, name="scores")
        classes = tf.tile(
            tf.constant([list(CLASS_LABELS)]), [tf.shape(serialized)[0], 1], name="classes"
        )
        regression = tf.identity(2.0 * features["x1"] + features["x2"], name="regression")

        builder = v1.saved_model.Builder(str(version_dir))
        builder.add_meta_graph_and_variables(
            session,
            [v1.saved_model.tag_constants.SERVING],
            signature_def_map={
                "serving_default": v1.saved_model.predict_signature_def({"x": x}, {"y": y}),
                "classify_x": v1.saved_model.classification_signature_def(
                    serialized, classes, scores
                ),
                "regress_x": v1.saved_model.regression_signature_def(serialized, regression),
            },
        )
        builder.save()
    return version_dir


HALF_PLUS_TWO = "half_plus_two"
HALF_PLUS_TWO_TF2 = "half_plus_two_tf2"
HALF_PLUS_TWO_VERSION_DIR = "00000123"


def _half_plus_two_features() -> dict[str, Any]:
    v1 = tf.compat.v1
    return {
        "x": v1.io.FixedLenFeature([1], tf.float32),
        "x2": v1.io.FixedLenFeature([1], tf.float32, default_value=[0.0]),
    }


def write_half_plus_two(version_dir: Path) -> Path:
    """A TF1-graph ``half_plus_two`` with TF Serving's test-model signatures."""
    v1 = tf.compat.v1
    sig = v1.saved_model.signature_def_utils
    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as session:
        a = v1.Variable(0.5, name="a")
        b = v1.Variable(2.0, name="b")
        c = v1.Variable(3.0, name="c")
        serialized = v1.placeholder(tf.string, name="tf_example", shape=[None])
        example = v1.io.parse_example(serialized, _half_plus_two_features())
        x = tf.identity(example["x"], name="x")
        y = tf.identity(a * x + b, name="y")
        y2 = tf.identity(a * x + c, name="y2")
        x2 = tf.identity(example["x2"], name="x2")
        a2 = v1.Variable(0.5, name="a2")
        c2 = v1.Variable(3.0, name="c2")
        y3 = tf.identity(a2 * x2 + c2, name="y3")

        def info(tensor: tf.Tensor) -> Any:
            tensor_info = v1.saved_model.utils.build_tensor_info(tensor)
            if tensor is serialized:  # unknown rank, as upstream's stored model declares it
                tensor_info.tensor_shape.Clear()
                tensor_info.tensor_shape.unknown_rank = True
            return tensor_info

        def regress(inputs: tf.Tensor, outputs: tf.Tensor) -> Any:
            return sig.build_signature_def(
                {"inputs": info(inputs)}, {"outputs": info(outputs)}, "tensorflow/serving/regress"
            )

        def classify(inputs: tf.Tensor, scores: tf.Tensor) -> Any:
            return sig.build_signature_def(
                {"inputs": info(inputs)}, {"scores": info(scores)}, "tensorflow/serving/classify"
            )

        session.run(v1.global_variables_initializer())
        builder = v1.saved_model.Builder(str(version_dir))
        builder.add_meta_graph_and_variables(
            session,
            [v1.saved_model.tag_constants.SERVING],
            signature_def_map={
                "regress_x_to_y": regress(serialized, y),
                "regress_x_to_y2": regress(serialized, y2),
                "regress_x2_to_y3": regress(x2, y3),
                "classify_x_to_y": classify(serialized, y),
                "serving_default": sig.build_signature_def(
                    {"x": info(x)}, {"y": info(y)}, "tensorflow/serving/predict"
                ),
            },
        )
        builder.save()
    return version_dir


class _HalfPlusTwoTf2(tf.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = tf.Variable(0.5, name="a")
        self.b = tf.Variable(2.0, name="b")
        self.c = tf.Variable(3.0, name="c")

    def _parse_x(self, serialized: tf.Tensor) -> tf.Tensor:
        return tf.compat.v1.io.parse_example(serialized, _half_plus_two_features())["x"]

    @tf.function(input_signature=[tf.TensorSpec([1], tf.float32)])
    def predict(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"y": self.a * x + self.b}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def regress_xy(self, serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"outputs": self.a * self._parse_x(serialized) + self.b}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def regress_xy2(self, serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"outputs": self.a * self._parse_x(serialized) + self.c}

    @tf.function(input_signature=[tf.TensorSpec([1], tf.float32, name="inputs")])
    def regress_x2y3(self, x2: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"outputs": self.a * x2 + self.c}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def classify_xy(self, serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"scores": self.a * self._parse_x(serialized) + self.b}

    @tf.function(input_signature=[tf.TensorSpec([1], tf.float32, name="inputs")])
    def classify_x2y3(self, x2: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"scores": self.a * x2 + self.c}


def write_half_plus_two_tf2(version_dir: Path) -> Path:
    """A TF2 ``tf.Module`` ``half_plus_two`` with TF Serving's test-model signatures.

    As in upstream's, ``serving_default`` declares x: float[1] (one value) yet TF Serving
    serves any number of them, and ``tf.saved_model.save`` sets the signatures' method
    names to predict.
    """
    module = _HalfPlusTwoTf2()
    tf.saved_model.save(
        module,
        str(version_dir),
        signatures={
            "serving_default": module.predict.get_concrete_function(),
            "regress_x_to_y": module.regress_xy.get_concrete_function(),
            "regress_x_to_y2": module.regress_xy2.get_concrete_function(),
            "regress_x2_to_y3": module.regress_x2y3.get_concrete_function(),
            "classify_x_to_y": module.classify_xy.get_concrete_function(),
            "classify_x2_to_y3": module.classify_x2y3.get_concrete_function(),
        },
    )
    return version_dir


MODELS_CONFIG = """model_config_list {
  config {
    name: "native"
    base_path: "%(root)s/native"
    model_platform: "tensorflow"
    model_version_policy { specific { versions: 1 versions: 2 } }
    version_labels { key: "stable" value: 1 }
    version_labels { key: "canary" value: 2 }
  }
  config {
    name: "tf1"
    base_path: "%(root)s/tf1"
    model_platform: "tensorflow"
  }
  config {
    name: "half_plus_two"
    base_path: "%(root)s/half_plus_two"
    model_platform: "tensorflow"
  }
  config {
    name: "half_plus_two_tf2"
    base_path: "%(root)s/half_plus_two_tf2"
    model_platform: "tensorflow"
  }
}
"""


def write_fixtures(root: Path, config_root: str | None = None) -> Path:
    """Write every fixture model under ``root`` and return the ``models.config`` path.

    ``config_root`` is the directory the config names (``/models`` inside a container);
    it defaults to ``root`` itself.
    """
    root.mkdir(parents=True, exist_ok=True)
    for version in (1, 2):
        write_native(root / NATIVE / str(version), version)
    write_tf1(root / TF1 / "1")
    write_half_plus_two(root / HALF_PLUS_TWO / HALF_PLUS_TWO_VERSION_DIR)
    write_half_plus_two_tf2(root / HALF_PLUS_TWO_TF2 / HALF_PLUS_TWO_VERSION_DIR)
    # Not a version: TF Serving ignores children whose names are not numbers.
    (root / HALF_PLUS_TWO / "non_numerical_child").mkdir()
    config = root / "models.config"
    config.write_text(MODELS_CONFIG % {"root": config_root or str(root)})
    return config


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: tfs_fixture_models.py OUT_DIR [PATH_OF_OUT_DIR_INSIDE_SERVER]")
    out = Path(sys.argv[1]).resolve()
    print(write_fixtures(out, sys.argv[2] if len(sys.argv) == 3 else None))
