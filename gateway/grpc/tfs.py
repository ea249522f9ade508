"""TF Serving's gRPC API: ``tensorflow.serving.PredictionService`` (Predict, Classify, Regress,
GetModelMetadata) and ``ModelService.GetModelStatus``, for every routed model, TensorFlow and
PyTorch alike, through the same dataplane as ``/v1`` REST.

``ModelSpec`` picks the version as TF Serving does (``version``, ``version_label``, else the
default or a canary split); errors carry TF Serving's codes and texts where it has them
(``Servable not found for request: Latest(m)``, ``Unrecognized servable version label: x``,
``Missing ModelSpec``). Input ``TensorProto`` s are read zero-copy from ``tensor_content``
and reach TF Serving as ``tensor_content`` again. Classify and Regress take ``tf.Example`` s,
which the gateway forwards in TF Serving's REST form (``{"b64": ...}`` for bytes: exact).
"""

from __future__ import annotations

import base64
import math
from typing import Any

import grpc

from gateway._pb import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)
from gateway.backends.base import ExampleMethod
from gateway.codecs.tensor_proto import array_to_tensor_proto, tensor_proto_to_array
from gateway.dataplane.routing import Target
from gateway.errors import (
    BadRequest,
    InvalidTensor,
    LabelNotFound,
    ModelNotFound,
    UpstreamError,
    VersionNotFound,
)
from gateway.grpc.call import Call, CallRunner
from wire.dtypes import NAME_TO_TF

PROTOCOL = "tfs-grpc"
_PREDICTION = "/tensorflow.serving.PredictionService/"
_MODELS = "/tensorflow.serving.ModelService/"
_AVAILABLE, _UNKNOWN = 30, 0
_CODE_UNAVAILABLE = 14  # tensorflow.error.Code


def _target(runner: CallRunner, call: Call, request: Any, *, pin: bool = False) -> Target:
    """The version a ``ModelSpec`` asks for, with TF Serving's errors."""
    if not request.HasField("model_spec"):
        raise BadRequest("Missing ModelSpec")
    spec = request.model_spec
    name = spec.name
    if not name:
        raise BadRequest("ModelSpec has no name specified.")
    which = spec.WhichOneof("version_choice")
    version = int(spec.version.value) if which == "version" else None
    label = spec.version_label if which == "version_label" else None
    try:
        return runner.state.dataplane.resolve(
            name,
            version=version,
            label=label,
            sticky_key=runner.sticky_key(call),
            variant=runner.variant(call),
        )
    except ModelNotFound:
        raise ModelNotFound(f"Servable not found for request: Latest({name})") from None
    except VersionNotFound:
        raise VersionNotFound(
            f"Servable not found for request: Specific({name}, {version})"
        ) from None
    except LabelNotFound:
        raise BadRequest(f"Unrecognized servable version label: {label}") from None


def _fill_spec(out: Any, target: Target, version: int, signature: str) -> None:
    out.name = target.public_name
    out.version.value = version
    out.signature_name = signature


def _inputs(request: Any, max_elements: int) -> dict[str, Any]:
    arrays = {}
    for name, proto in request.inputs.items():
        dims = [d.size for d in proto.tensor_shape.dim]
        if any(d < 0 for d in dims) or math.prod(dims) > max_elements:
            raise InvalidTensor(f"input {name!r}: invalid tensor shape {dims}")
        try:
            arrays[name] = tensor_proto_to_array(proto)
        except ValueError as exc:
            raise InvalidTensor(f"input {name!r}: invalid TensorProto: {exc}") from None
    return arrays


def _feature_json(feature: Any) -> list[Any]:
    kind = feature.WhichOneof("kind")
    if kind == "bytes_list":
        return [{"b64": base64.b64encode(v).decode()} for v in feature.bytes_list.value]
    if kind == "float_list":
        return [float(v) for v in feature.float_list.value]
    if kind == "int64_list":
        return [int(v) for v in feature.int64_list.value]
    return []


def _example_json(example: Any) -> dict[str, Any]:
    return {k: _feature_json(v) for k, v in example.features.feature.items()}


def examples_body(request: Any) -> dict[str, Any]:
    """A Classify/Regress request's ``Input`` as TF Serving's REST body."""
    kind = request.input.WhichOneof("kind")
    if kind is None:
        raise BadRequest("Input is empty.")
    body: dict[str, Any] = {}
    if kind == "example_list_with_context":
        listed = request.input.example_list_with_context
        body["context"] = _example_json(listed.context)
    else:
        listed = request.input.example_list
    if not listed.examples:
        raise BadRequest("Input is empty.")
    body["examples"] = [_example_json(e) for e in listed.examples]
    if request.model_spec.signature_name:
        body["signature_name"] = request.model_spec.signature_name
    return body


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):  # type: ignore[misc]
    """Predict, Classify, Regress and GetModelMetadata (MultiInference: UNIMPLEMENTED)."""

    def __init__(self, runner: CallRunner) -> None:
        self._runner = runner
        self._state = runner.state

    async def Predict(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Run the model's signature on ``TensorProto`` inputs."""
        settings = self._state.settings

        async def handle(call: Call) -> Any:
            target = call.target(_target(self._runner, call, request))
            inputs = _inputs(request, settings.grpc_max_message_bytes)
            signature = request.model_spec.signature_name
            result = await self._state.dataplane.infer(
                target,
                inputs,
                output_names=tuple(request.output_filter) or None,
                request_id=call.request_id,
                signature_name=signature,
                deadline_s=call.deadline_s,
            )
            response = predict_pb2.PredictResponse()
            _fill_spec(
                response.model_spec,
                target,
                result.version,
                signature or target.route.signature_name or "serving_default",
            )
            for name, array in result.outputs.items():
                response.outputs[name].CopyFrom(array_to_tensor_proto(array))
            return response

        return await self._runner.run(
            context,
            _PREDICTION + "Predict",
            handle,
            protocol=PROTOCOL,
            model=request.model_spec.name,
        )

    async def _examples(
        self, request: Any, context: grpc.aio.ServicerContext, method: ExampleMethod
    ) -> Any:
        async def handle(call: Call) -> Any:
            target = call.target(_target(self._runner, call, request))
            body = examples_body(request)
            answer = await self._state.dataplane.example_method(
                target, method, body, call.request_id, deadline_s=call.deadline_s
            )
            signature = body.get("signature_name") or "serving_default"
            try:
                return _example_response(method, answer, target, signature)
            except (KeyError, TypeError, ValueError) as exc:
                raise UpstreamError(f"unreadable {method} answer from the backend: {exc}") from exc

        name = "Classify" if method == "classify" else "Regress"
        return await self._runner.run(
            context,
            _PREDICTION + name,
            handle,
            protocol=PROTOCOL,
            model=request.model_spec.name,
        )

    async def Classify(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Run a classification signature on ``tf.Example`` s."""
        return await self._examples(request, context, "classify")

    async def Regress(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Run a regression signature on ``tf.Example`` s."""
        return await self._examples(request, context, "regress")

    async def GetModelMetadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """The signature defs of a version (only ``signature_def`` exists, as in TF Serving)."""

        async def handle(call: Call) -> Any:
            if not request.HasField("model_spec"):
                raise BadRequest("Missing ModelSpec")
            fields = list(request.metadata_field)
            if not fields:
                raise BadRequest("GetModelMetadataRequest must specify at least one metadata_field")
            for field in fields:
                if field != "signature_def":
                    raise BadRequest(f"Metadata field {field} is not supported")
            target = _target(self._runner, call, request)
            meta = await self._state.dataplane.metadata(target)
            sigmap = get_model_metadata_pb2.SignatureDefMap()
            for sig_name, sig in meta.signatures.items():
                out = sigmap.signature_def[sig_name]
                out.method_name = sig.method_name
                for specs, infos in ((sig.inputs, out.inputs), (sig.outputs, out.outputs)):
                    for spec in specs:
                        info = infos[spec.name]
                        info.name = f"{sig_name}_{spec.name}:0"
                        info.dtype = NAME_TO_TF[spec.dtype]
                        for size in spec.shape:
                            info.tensor_shape.dim.add(size=size)
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            response.model_spec.name = target.public_name
            response.model_spec.version.value = target.version
            response.metadata["signature_def"].Pack(sigmap)
            return response

        return await self._runner.run(context, _PREDICTION + "GetModelMetadata", handle)


def _example_response(
    method: ExampleMethod, answer: dict[str, Any], target: Target, signature: str
) -> Any:
    results = answer["results"]
    if method == "classify":
        response = classification_pb2.ClassificationResponse()
        for row in results:
            classes = response.result.classifications.add()
            for pair in row:
                label, score = (pair[0], pair[1]) if isinstance(pair, list) else ("", pair)
                classes.classes.add(label=str(label), score=float(score))
    else:
        response = regression_pb2.RegressionResponse()
        for value in results:
            response.result.regressions.add(value=float(value))
    _fill_spec(response.model_spec, target, target.version, signature)
    return response


class ModelService(model_service_pb2_grpc.ModelServiceServicer):  # type: ignore[misc]
    """GetModelStatus (model management is not offered through the gateway)."""

    def __init__(self, runner: CallRunner) -> None:
        self._runner = runner
        self._state = runner.state

    async def GetModelStatus(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """State of the requested version, or of every routed version when none is named."""

        async def handle(call: Call) -> Any:
            try:
                target = _target(self._runner, call, request)
            except ModelNotFound:  # GetModelStatus words it its own way in TF Serving
                name = request.model_spec.name
                raise ModelNotFound(f"Could not find any versions of model {name}") from None
            except VersionNotFound:
                spec = request.model_spec
                raise VersionNotFound(
                    f"Could not find version {spec.version.value} of model {spec.name}"
                ) from None
            dataplane = self._state.dataplane
            pinned = request.model_spec.WhichOneof("version_choice") is not None
            versions = (target.version,) if pinned else target.route.versions
            response = get_model_status_pb2.GetModelStatusResponse()
            for version in versions:
                ready = await dataplane.model_ready(
                    dataplane.resolve(target.model, version=version)
                )
                entry = response.model_version_status.add(
                    version=version, state=_AVAILABLE if ready else _UNKNOWN
                )
                if not ready:
                    entry.status.error_code = _CODE_UNAVAILABLE
                    entry.status.error_message = "backend does not answer"
            return response

        return await self._runner.run(context, _MODELS + "GetModelStatus", handle)
