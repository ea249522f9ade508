"""Keras / TensorFlow → SavedModel in TF Serving's versioned layout.

Writes `<dest>/` (the caller renames it to `<base>/<version>/`) with a `serving_default`
signature whose input and output names are the manifest's, and
`assets.extra/tf_serving_warmup_requests` so the server runs each shape once at load time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tandem.errors import ExportError
from tandem.export.result import ParityCheck
from tandem.export.samples import max_abs_diff, sample_inputs
from tandem.layout import WARMUP_FILE
from tandem.manifest import ModelSpec

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _tf_dtype(tf: Any, dtype: str) -> Any:
    return tf.string if dtype == "string" else tf.as_dtype(dtype)


def _dims(shape: Any) -> list[int]:
    return [-1 if d is None else int(d) for d in shape]


def _fits(actual: list[int], declared: list[int]) -> bool:
    """Same rank, and every dimension known on both sides agrees (-1 matches anything)."""
    return len(actual) == len(declared) and all(
        a == -1 or d == -1 or a == d for a, d in zip(actual, declared, strict=True)
    )


def _check_keras_inputs(model: Any, spec: ModelSpec, where: str) -> None:
    """Compare declared input shapes with a Keras model's own, before tracing."""
    model_inputs = getattr(model, "inputs", None)
    if not model_inputs:
        return
    if len(model_inputs) != len(spec.inputs):
        raise ExportError(
            f"{where}: declares {len(spec.inputs)} input(s), the model takes {len(model_inputs)}"
        )
    for declared, actual in zip(spec.inputs, model_inputs, strict=True):
        shape = _dims(actual.shape)
        if not _fits(shape, declared.shape):
            raise ExportError(
                f"{where}: input {declared.name!r} declared shape {declared.shape} "
                f"disagrees with the model's {shape}"
            )


def _as_list(outputs: Any, names: list[str]) -> list[Any]:
    if isinstance(outputs, dict):
        if set(outputs) >= set(names):
            return [outputs[n] for n in names]
        return [outputs[k] for k in sorted(outputs)]
    if isinstance(outputs, list | tuple):
        return list(outputs)
    return [outputs]


def _call(model: Any, spec: ModelSpec, tensors: list[Any]) -> list[Any]:
    """Run the source model: a Keras model takes positional tensors, a signature keywords."""
    names = [o.name for o in spec.outputs]
    if hasattr(model, "structured_input_signature"):
        kwargs = {s.name: t for s, t in zip(spec.inputs, tensors, strict=True)}
        return _as_list(model(**kwargs), names)
    feed = tensors[0] if len(tensors) == 1 else list(tensors)
    return _as_list(model(feed, training=False), names)


def _check_outputs(outputs: list[Any], spec: ModelSpec, where: str) -> None:
    if len(outputs) != len(spec.outputs):
        raise ExportError(
            f"{where}: declares {len(spec.outputs)} output(s), the model returns {len(outputs)}"
        )
    for declared, out in zip(spec.outputs, outputs, strict=True):
        dtype = "string" if out.dtype.name == "string" else out.dtype.name
        if dtype != declared.dtype:
            raise ExportError(
                f"{where}: output {declared.name!r} declared {declared.dtype}, model gives {dtype}"
            )
        shape = _dims(out.shape)
        if not _fits(shape, declared.shape):
            raise ExportError(
                f"{where}: output {declared.name!r} declared shape {declared.shape}, "
                f"model gives {shape}"
            )


def export_tensorflow(
    spec: ModelSpec, model: Any, dest: Path, where: str, seed: int = 0
) -> list[ParityCheck]:
    """Write the SavedModel + warmup file to `dest`; return the parity check of the reload."""
    import tensorflow as tf

    _check_keras_inputs(model, spec, where)
    signature = [
        tf.TensorSpec(
            [None if d == -1 else d for d in s.shape], _tf_dtype(tf, s.dtype), name=s.name
        )
        for s in spec.inputs
    ]

    module = tf.Module()
    module.model = model  # tracked, so the variables are saved with the module

    @tf.function(input_signature=signature)  # type: ignore[untyped-decorator]
    def serve(*tensors: Any) -> dict[str, Any]:
        outputs = _call(model, spec, list(tensors))
        _check_outputs(outputs, spec, where)
        return {o.name: t for o, t in zip(spec.outputs, outputs, strict=True)}

    try:
        concrete = serve.get_concrete_function()
    except ExportError:
        raise
    except (ValueError, TypeError, tf.errors.InvalidArgumentError) as exc:
        first = str(exc).strip().splitlines()[0][:240] if str(exc).strip() else type(exc).__name__
        raise ExportError(
            f"{where}: declared inputs {[s.shape for s in spec.inputs]} do not fit the model: "
            f"{first}"
        ) from exc
    module.serve = serve
    tf.saved_model.save(module, str(dest), signatures={spec.signature: concrete})

    batch = min(4, spec.batching.max_batch_size) if spec.batching.enabled else 4
    samples = sample_inputs(spec.inputs, batch=max(batch, 2), seed=seed)
    write_warmup(spec, dest, [sample_inputs(spec.inputs, 1, seed), samples])
    return [_parity(spec, model, dest, samples)]


def _parity(
    spec: ModelSpec, model: Any, dest: Path, samples: list[npt.NDArray[Any]]
) -> ParityCheck:
    import tensorflow as tf

    expected = [np.asarray(t) for t in _call(model, spec, [tf.constant(a) for a in samples])]
    loaded = tf.saved_model.load(str(dest))
    fn = loaded.signatures[spec.signature]
    got = fn(**{s.name: tf.constant(a) for s, a in zip(spec.inputs, samples, strict=True)})
    diffs = {
        o.name: max_abs_diff(np.asarray(got[o.name]), e)
        for o, e in zip(spec.outputs, expected, strict=True)
    }
    return ParityCheck("savedmodel", diffs, spec.parity_tolerance)


def write_warmup(spec: ModelSpec, dest: Path, batches: list[list[npt.NDArray[Any]]]) -> Path:
    """A TFRecord of PredictionLog, one predict request per sample batch."""
    import tensorflow as tf
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    path = dest / WARMUP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for arrays in batches:
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=spec.name, signature_name=spec.signature)
            )
            for s, a in zip(spec.inputs, arrays, strict=True):
                request.inputs[s.name].CopyFrom(tf.make_tensor_proto(a))
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
            writer.write(log.SerializeToString())
    return path
