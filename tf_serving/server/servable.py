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
from tensorflow.core.protobuf import config_pb2, meta_graph_pb2, saved_model_pb2
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
        # All of them, __saved_model_init_op included: TF Serving's metadata lists it too.
        for name, sig in meta.signature_def.items()
    }


class Servable:
    """A SavedModel version loaded into the TF runtime; thread-safe calls."""

    def __init__(
        self, model_name: str, version: int, path: Path, check_method_names: bool = False
    ) -> None:
        self.model_name = model_name
        # --enable_signature_method_name_check (off by default, as in TF Serving).
        self.check_method_names = check_method_names
        self.version = version
        self.path = path
        self.signatures = read_signatures(path)
        self._session: SessionModel | None = None
        self._functions: dict[str, Any] = {}
        try:
            loaded = tf.saved_model.load(str(path), tags=["serve"])
        except Exception as exc:  # TF raises many types for graphs it cannot wrap
            # Legacy TF1 graphs (e.g. placeholders whose empty shape meant "any shape",
            # as in TF Serving's saved_model_half_plus_three) load only into a session,
            # which is what TF Serving runs every SavedModel in.
            log.info("Loading %s into a TF1 session (%s)", path, _tf_message(exc))
            self._session = SessionModel(path)
        else:
            self._functions = {
                name: loaded.signatures[name]
                for name in self.signatures
                if name in loaded.signatures
            }
            self._loaded = loaded

    def signature(self, name: str) -> Signature:
        """Resolve a REST predict's signature name ('' = ``serving_default``).

        The wording is ``HttpRestApiHandler::GetInfoMap``'s; gRPC Predict uses
        :meth:`predict_signature`.
        """
        key = name or DEFAULT_SIGNATURE
        try:
            signature = self.signatures[key]
        except KeyError:
            raise InvalidArgument(
                f'Serving signature name: "{key}" not found in signature def'
            ) from None
        self._verify_predict(signature)
        return signature

    def predict_signature(self, name: str) -> Signature:
        """Resolve a gRPC Predict's signature name, as ``RunPredict`` does."""
        key = name or DEFAULT_SIGNATURE
        try:
            signature = self.signatures[key]
        except KeyError:
            raise FailedPrecondition(f'Serving signature key "{key}" not found.') from None
        self._verify_predict(signature)
        return signature

    def _verify_predict(self, signature: Signature) -> None:
        """``predict_util.cc``'s ``VerifySignature``, under the method-name check only."""
        methods = (PREDICT_METHOD, CLASSIFY_METHOD, REGRESS_METHOD)
        if self.check_method_names and signature.method_name not in methods:
            raise Internal(
                f"Expected prediction signature method_name to be one of {{{', '.join(methods)}}}"
                f". Was: {signature.method_name}"
            )

    def classification_signature(self, name: str) -> Signature:
        """``GetClassificationSignatureDef``: the named signature, which must classify."""
        return self._method_signature(name, CLASSIFY_METHOD, "classification")

    def regression_signature(self, name: str) -> Signature:
        """``GetRegressionSignatureDef``: the named signature, which must regress."""
        return self._method_signature(name, REGRESS_METHOD, "regression")

    def _method_signature(self, name: str, method: str, what: str) -> Signature:
        # TF Serving checks method names only under --enable_signature_method_name_check
        # (off by default): TF2 exports mark every signature "predict" and still regress.
        key = name or DEFAULT_SIGNATURE
        signature = self.signatures.get(key)
        if signature is None:
            raise InvalidArgument(f"No signature was found with the name: {key}")
        if self.check_method_names and signature.method_name != method:
            raise InvalidArgument(
                f"Expected {what} signature method_name to be {method}. "
                f"Was: {signature.method_name}"
            )
        return signature

    def run(
        self,
        signature: Signature,
        inputs: Mapping[str, np.ndarray],
        output_filter: Sequence[str] = (),
    ) -> dict[str, np.ndarray]:
        """Call a signature on named arrays; returns named output arrays."""
        _check_inputs(signature, inputs)
        _check_output_filter(signature, output_filter)
        wanted = list(output_filter) or sorted(signature.outputs)
        try:
            if self._session is not None:
                return self._session.run(signature, inputs, wanted)
            return self._call_function(signature, inputs, set(wanted))
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as exc:
            raise InvalidArgument(_tf_message(exc)) from None
        except tf.errors.OpError as exc:
            raise Internal(_tf_message(exc)) from None

    def _call_function(
        self, signature: Signature, inputs: Mapping[str, np.ndarray], wanted: set[str]
    ) -> dict[str, np.ndarray]:
        feeds = {}
        for name, array in inputs.items():
            spec = signature.inputs[name]
            try:
                feeds[name] = tf.constant(array, dtype=tf.dtypes.as_dtype(spec.numpy_dtype))
            except (TypeError, ValueError) as exc:
                raise InvalidArgument(f"Input '{name}' cannot be converted: {exc}") from None
        function = self._functions.get(signature.name)
        if function is None:
            raise FailedPrecondition(f"Signature {signature.name} cannot be run")
        result = function(**feeds)
        return {k: np.asarray(v.numpy()) for k, v in result.items() if k in wanted}

    def classify(
        self, signature: Signature, examples: list[bytes]
    ) -> list[list[tuple[str, float]]]:
        """Run a classification signature on serialized ``tf.Example`` s.

        Checks and texts follow ``classifier.cc`` (``PreProcessClassification`` and
        ``PostProcessClassificationResult``).
        """
        if len(signature.inputs) != 1:
            raise InvalidArgument("Expected one input Tensor.")
        if len(signature.outputs) not in (1, 2):
            raise InvalidArgument(
                f"Expected one or two output Tensors, found {len(signature.outputs)}"
            )
        if "inputs" not in signature.inputs:
            raise InvalidArgument(
                f"No classification inputs found in SignatureDef: {signature.proto}"
            )
        wanted = [k for k in ("classes", "scores") if k in signature.outputs]
        if not wanted:
            raise InvalidArgument(
                'Expected classification signature outputs to contain at least one of "classes"'
                f' or "scores". Signature was: {signature.proto}'
            )
        out = self.run(signature, _example_feed(examples), wanted)
        n = len(examples)
        classes, scores = out.get("classes"), out.get("scores")
        for name, array, dtype in (
            ("classes", classes, "DT_STRING"),
            ("scores", scores, "DT_FLOAT"),
        ):
            if array is None:
                continue
            if array.ndim != 2:
                raise InvalidArgument(
                    f"Expected Tensor shape: [batch_size num_classes] but got {_shape(array)}"
                )
            if _dtype_name(array) != dtype:
                raise InvalidArgument(
                    f"Expected {name} Tensor of {dtype}. Got: {_dtype_name(array)}"
                )
            if array.shape[0] != n:
                raise InvalidArgument(
                    f"Expected {name} output batch size of {n}. Got: {array.shape[0]}"
                )
        if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
            raise InvalidArgument(
                "Tensors class and score should match in dim_size(1). Got "
                f"{classes.shape[1]} vs. {scores.shape[1]}"
            )
        num_classes = (classes if classes is not None else scores).shape[1]  # type: ignore[union-attr]
        rows: list[list[tuple[str, float]]] = []
        for i in range(n):
            row = []
            for c in range(num_classes):
                label = "" if classes is None else bytes(classes[i, c]).decode("utf-8", "replace")
                score = 0.0 if scores is None else float(scores[i, c])
                row.append((label, score))
            rows.append(row)
        return rows

    def regress(self, signature: Signature, examples: list[bytes]) -> list[float]:
        """Run a regression signature on serialized ``tf.Example`` s (``regressor.cc``)."""
        if len(signature.inputs) != 1:
            raise InvalidArgument("Expected one input Tensor.")
        if len(signature.outputs) != 1:
            raise InvalidArgument("Expected one output Tensor.")
        if "inputs" not in signature.inputs:
            raise InvalidArgument(f"No regression inputs found in SignatureDef: {signature.proto}")
        if "outputs" not in signature.outputs:
            raise InvalidArgument(f"No regression outputs found in SignatureDef: {signature.proto}")
        n = len(examples)
        values = self.run(signature, _example_feed(examples))["outputs"]
        if not (values.ndim == 1 or (values.ndim == 2 and values.shape[1] == 1)):
            raise InvalidArgument(
                "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] "
                f"but got {_shape(values)}"
            )
        if values.shape[0] != n:
            raise InvalidArgument(
                f"Input batch size did not match output batch size: {n} vs. {values.shape[0]}"
            )
        if _dtype_name(values) != "DT_FLOAT":
            raise InvalidArgument(
                f"Expected output Tensor of DT_FLOAT.  Got: {_dtype_name(values)}"
            )
        return [float(v) for v in values.reshape(-1)]

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


class SessionModel:
    """A SavedModel run as TF Serving runs it: a TF1 session fed and fetched by tensor name.

    Its callables skip the Python client's feed-shape check, so, as in TF Serving, only
    the graph's own ops judge a shape. Used for graphs ``tf.saved_model.load`` cannot wrap.
    """

    def __init__(self, path: Path) -> None:
        self._graph = tf.Graph()
        self._session = tf.compat.v1.Session(graph=self._graph)
        tf.compat.v1.saved_model.loader.load(self._session, ["serve"], str(path))
        self._callables: dict[tuple[str, tuple[str, ...]], Any] = {}

    def run(
        self, signature: Signature, inputs: Mapping[str, np.ndarray], wanted: list[str]
    ) -> dict[str, np.ndarray]:
        names = sorted(inputs)
        key = (signature.name, tuple(wanted))
        call = self._callables.get(key)
        if call is None:
            # The public make_callable() routes feeds through Session.run's Python shape
            # check; callables built from CallableOptions go straight to the C API.
            options = config_pb2.CallableOptions(
                feed=[signature.inputs[n].tensor_name for n in names],
                fetch=[signature.outputs[a].tensor_name for a in wanted],
            )
            call = self._callables[key] = self._session._make_callable_from_options(options)
        # Fed as sent, like TF Serving (examples are strings even where a legacy
        # signature's TensorInfo claims another dtype).
        values = [np.asarray(inputs[name]) for name in names]
        return {alias: np.asarray(v) for alias, v in zip(wanted, call(*values), strict=True)}


def _example_feed(examples: list[bytes]) -> dict[str, np.ndarray]:
    """The one ``inputs`` tensor of a classify / regress signature: serialized examples."""
    feed = np.empty(len(examples), dtype=object)
    feed[:] = examples
    return {"inputs": feed}


def _shape(array: np.ndarray) -> str:
    """``TensorShape::DebugString``, e.g. ``[2,3]``."""
    return "[" + ",".join(str(d) for d in array.shape) + "]"


def _dtype_name(array: np.ndarray) -> str:
    """The ``DataType`` name of an output array, e.g. ``DT_FLOAT``."""
    if array.dtype == object or array.dtype.kind in "SU":
        return "DT_STRING"
    return dtype_name(tf.dtypes.as_dtype(array.dtype).as_datatype_enum)


def _check_inputs(signature: Signature, inputs: Mapping[str, np.ndarray]) -> None:
    """``VerifyRequestInputsSize`` then ``GetInputValues``, with their wording."""
    sent, wanted = set(inputs), set(signature.inputs)
    if len(sent) != len(wanted):
        raise InvalidArgument(
            f"input size does not match signature: {len(sent)}!={len(wanted)} "
            f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(wanted))}}}). "
            f"Sent extra: {{{','.join(sorted(sent - wanted))}}}. "
            f"Missing but required: {{{','.join(sorted(wanted - sent))}}}."
        )
    for alias in sorted(sent - wanted):
        raise InvalidArgument(
            f"input tensor alias not found in signature: {alias}. "
            f"Inputs expected to be in the set {{{','.join(sorted(wanted))}}}."
        )


def _check_output_filter(signature: Signature, output_filter: Sequence[str]) -> None:
    """``PreProcessPrediction``'s checks of ``output_filter``."""
    seen: set[str] = set()
    for alias in output_filter:
        if alias not in signature.outputs:
            raise InvalidArgument(
                f"output tensor alias not found in signature: {alias} Outputs expected to be "
                f"in the set {{{','.join(sorted(signature.outputs))}}}."
            )
        if alias in seen:
            raise InvalidArgument(f"duplicate output tensor alias: {alias}")
        seen.add(alias)


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
