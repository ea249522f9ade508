"""A loaded SavedModel version: signature metadata and synchronous signature calls.

The manager loads one :class:`Servable` per model version in a worker thread; the
dataplane calls :meth:`Servable.run` / :meth:`classify` / :meth:`regress` from the
inference thread pool or the batcher, never on the event loop. Signature metadata comes
from ``saved_model.pb`` itself (what TF Serving reports), so models we did not write -
TF1 graphs and TF2/Keras exports alike - describe themselves the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2
from tensorflow_serving.apis import prediction_log_pb2

from tf_serving.server.codec import TensorSpec, dtype_name, tensor_proto_to_array
from tf_serving.server.errors import FailedPrecondition, Internal, InvalidArgument, ServingError

log = logging.getLogger(__name__)

DEFAULT_SIGNATURE = "serving_default"
PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"
MAX_WARMUP_RECORDS = 1000  # TF Serving's limit


def _spec(key: str, info: Any) -> TensorSpec:
    shape = info.tensor_shape
    dims = None if shape.unknown_rank else tuple(int(d.size) for d in shape.dim)
    return TensorSpec(key=key, dtype=dtype_name(info.dtype), shape=dims, tensor_name=info.name)


@dataclass(frozen=True)
class Signature:
    """One signature def: its method and declared inputs/outputs."""

    name: str
    method_name: str
    inputs: dict[str, TensorSpec]
    outputs: dict[str, TensorSpec]
    proto: Any  # tensorflow.SignatureDef, reported verbatim by GetModelMetadata


def read_signatures(path: Path) -> dict[str, Signature]:
    """Signature defs of the ``serve`` meta graph in ``path/saved_model.pb``."""
    model = saved_model_pb2.SavedModel()
    pb = path / "saved_model.pb"
    try:
        model.ParseFromString(pb.read_bytes())
    except OSError as exc:
        raise FailedPrecondition(f"Could not read {pb}: {exc.strerror or exc}") from exc
    meta: meta_graph_pb2.MetaGraphDef | None = next(
        (m for m in model.meta_graphs if "serve" in m.meta_info_def.tags), None
    )
    if meta is None:
        raise FailedPrecondition(f"{path} has no meta graph tagged 'serve'")
    return {
        name: Signature(
            name=name,
            method_name=sig.method_name,
            inputs={k: _spec(k, v) for k, v in sig.inputs.items()},
            outputs={k: _spec(k, v) for k, v in sig.outputs.items()},
            proto=sig,
        )
        for name, sig in meta.signature_def.items()
        if not name.startswith("__")  # e.g. __saved_model_init_op is not servable
    }


class Servable:
    """A SavedModel version loaded into the TF runtime; thread-safe calls."""

    def __init__(self, model_name: str, version: int, path: Path) -> None:
        self.model_name = model_name
        self.version = version
        self.path = path
        self.signatures = read_signatures(path)
        self._loaded = tf.saved_model.load(str(path), tags=["serve"])
        self._functions = {name: self._loaded.signatures[name] for name in self.signatures}

    def signature(self, name: str) -> Signature:
        """Resolve a request's signature name ('' = ``serving_default``)."""
        key = name or DEFAULT_SIGNATURE
        try:
            return self.signatures[key]
        except KeyError:
            raise InvalidArgument(
                f'Serving signature name: "{key}" not found in signature def'
            ) from None

    def run(
        self,
        signature: Signature,
        inputs: Mapping[str, np.ndarray],
        output_filter: Sequence[str] = (),
    ) -> dict[str, np.ndarray]:
        """Call a signature on named arrays; returns named output arrays."""
        missing = sorted(set(signature.inputs) - set(inputs))
        extra = sorted(set(inputs) - set(signature.inputs))
        if missing or extra:
            raise InvalidArgument(
                f"Request inputs do not match signature '{signature.name}': missing "
                f"{missing or 'none'}, unexpected {extra or 'none'}; expected "
                f"{sorted(signature.inputs)}"
            )
        for name in output_filter:
            if name not in signature.outputs:
                raise InvalidArgument(f"output tensor alias not found in signature: {name}")
        feeds = {}
        for name, array in inputs.items():
            spec = signature.inputs[name]
            try:
                feeds[name] = tf.constant(array, dtype=tf.dtypes.as_dtype(spec.numpy_dtype))
            except (TypeError, ValueError) as exc:
                raise InvalidArgument(f"Input '{name}' cannot be converted: {exc}") from None
        try:
            result = self._functions[signature.name](**feeds)
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as exc:
            raise InvalidArgument(_tf_message(exc)) from None
        except tf.errors.OpError as exc:
            raise Internal(_tf_message(exc)) from None
        wanted = set(output_filter) or set(signature.outputs)
        return {k: np.asarray(v.numpy()) for k, v in result.items() if k in wanted}

    def classify(
        self, signature: Signature, examples: list[bytes]
    ) -> list[list[tuple[str, float]]]:
        """Run a classification signature on serialized ``tf.Example`` s."""
        if signature.method_name != CLASSIFY_METHOD:
            raise InvalidArgument(
                f"Expected classification signature method_name to be {CLASSIFY_METHOD}. "
                f"Was: {signature.method_name}"
            )
        out = self.run(signature, self._example_feed(signature, examples))
        classes, scores = out.get("classes"), out.get("scores")
        if classes is None and scores is None:
            raise Internal("Expected classification signature outputs to contain classes or scores")
        n = len(examples)
        rows: list[list[tuple[str, float]]] = []
        for i in range(n):
            labels = (
                [c.decode() if isinstance(c, bytes) else str(c) for c in classes[i].reshape(-1)]
                if classes is not None
                else None
            )
            values = [float(s) for s in scores[i].reshape(-1)] if scores is not None else None
            if labels is None:
                labels = [""] * len(values or [])
            if values is None:
                values = [0.0] * len(labels)
            rows.append(list(zip(labels, values, strict=True)))
        return rows

    def regress(self, signature: Signature, examples: list[bytes]) -> list[float]:
        """Run a regression signature on serialized ``tf.Example`` s."""
        if signature.method_name != REGRESS_METHOD:
            raise InvalidArgument(
                f"Expected regression signature method_name to be {REGRESS_METHOD}. "
                f"Was: {signature.method_name}"
            )
        out = self.run(signature, self._example_feed(signature, examples))
        if "outputs" not in out:
            raise Internal("Expected regression signature to have an 'outputs' tensor")
        values = out["outputs"].reshape(len(examples), -1)
        if values.shape[1] != 1:
            raise InvalidArgument("Expected one regression output per example")
        return [float(v) for v in values[:, 0]]

    @staticmethod
    def _example_feed(signature: Signature, examples: list[bytes]) -> dict[str, np.ndarray]:
        if len(signature.inputs) != 1:
            raise InvalidArgument(f"Signature '{signature.name}' must have exactly one input")
        (name,) = signature.inputs
        feed = np.empty(len(examples), dtype=object)
        feed[:] = examples
        return {name: feed}

    def warmup(self) -> int:
        """Replay ``assets.extra/tf_serving_warmup_requests``; any failure fails the load."""
        path = self.path / WARMUP_FILE
        if not path.exists():
            return 0
        count = 0
        for record in _records(path):
            if count >= MAX_WARMUP_RECORDS:
                break
            entry = prediction_log_pb2.PredictionLog()
            entry.ParseFromString(record)
            kind = entry.WhichOneof("log_type")
            try:
                self._replay(entry, kind)
            except ServingError as exc:
                raise FailedPrecondition(
                    f"Warmup request {count} ({kind}) failed: {exc.message}"
                ) from exc
            count += 1
        log.info(
            "Replayed %d warmup records for %s version %d", count, self.model_name, self.version
        )
        return count

    def _replay(self, entry: Any, kind: str | None) -> None:
        from tf_serving.server.codec import input_proto_to_examples

        if kind == "predict_log":
            request = entry.predict_log.request
            sig = self.signature(request.model_spec.signature_name)
            inputs = {k: tensor_proto_to_array(v) for k, v in request.inputs.items()}
            self.run(sig, inputs, list(request.output_filter))
        elif kind == "classify_log":
            request = entry.classify_log.request
            sig = self.signature(request.model_spec.signature_name)
            self.classify(sig, input_proto_to_examples(request.input))
        elif kind == "regress_log":
            request = entry.regress_log.request
            sig = self.signature(request.model_spec.signature_name)
            self.regress(sig, input_proto_to_examples(request.input))
        else:
            raise InvalidArgument(f"Unsupported warmup log type: {kind}")


def _records(path: Path) -> Iterator[bytes]:
    try:
        for record in tf.data.TFRecordDataset(str(path)):
            yield bytes(record.numpy())
    except tf.errors.OpError as exc:
        raise FailedPrecondition(f"Cannot read warmup file {path}: {_tf_message(exc)}") from None


def _tf_message(exc: BaseException) -> str:
    message = str(getattr(exc, "message", None) or exc)
    # TF prefixes graph errors with a bare "Graph execution error:" line and node traces;
    # the useful part is the rest, so keep every line but squash them into one.
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    text = " ".join(lines) or type(exc).__name__
    return text if len(text) <= 1000 else text[:997] + "..."
