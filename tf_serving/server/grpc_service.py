"""TF Serving's gRPC services (PredictionService, ModelService) on ``grpc.aio``.

Servicers convert protos with :mod:`codec` and call the :class:`DataPlane`; a
:class:`ServingError` aborts the call with its gRPC code and message.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import grpc
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from tf_serving.server import codec, responses
from tf_serving.server.config import model_specs_from_proto
from tf_serving.server.dataplane import DataPlane
from tf_serving.server.errors import InvalidArgument, ServingError
from tf_serving.server.manager import ModelRef

log = logging.getLogger(__name__)
T = TypeVar("T")


def model_ref(spec: Any) -> ModelRef:
    """A ``ModelSpec`` proto -> :class:`ModelRef` (an empty name fails where it is used)."""
    which = spec.WhichOneof("version_choice")
    if which == "version":
        return ModelRef(spec.name, version=int(spec.version.value))
    if which == "version_label":
        return ModelRef(spec.name, label=spec.version_label)
    return ModelRef(spec.name)


async def _guard(context: grpc.aio.ServicerContext, call: Callable[[], Awaitable[T]]) -> T:
    try:
        return await call()
    except ServingError as exc:
        await context.abort(exc.grpc_code, exc.message)
    except Exception as exc:
        log.exception("Internal error in gRPC call")
        await context.abort(grpc.StatusCode.INTERNAL, f"Internal server error: {exc}")
    raise AssertionError("unreachable: abort raises")


def _fill_spec(out: Any, name: str, version: int, signature: str) -> None:
    out.name = name
    out.version.value = version
    out.signature_name = signature


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):  # type: ignore[misc]
    """Predict, Classify, Regress and GetModelMetadata."""

    def __init__(self, dataplane: DataPlane) -> None:
        self.dataplane = dataplane

    async def Predict(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Run a signature on TensorProto inputs."""

        async def call() -> Any:
            ref = model_ref(request.model_spec)
            with self.dataplane.metrics.observe(ref.name, "Predict", "GRPC"):
                async with self.dataplane.servable(ref) as servable:
                    signature = servable.predict_signature(request.model_spec.signature_name)
                    inputs = {k: codec.tensor_proto_to_array(v) for k, v in request.inputs.items()}
                    outputs = await self.dataplane.predict(
                        servable, signature, inputs, list(request.output_filter)
                    )
                    response = predict_pb2.PredictResponse()
                    _fill_spec(response.model_spec, ref.name, servable.version, signature.name)
                    for name, array in outputs.items():
                        response.outputs[name].CopyFrom(codec.array_to_tensor_proto(array))
                    return response

        return await _guard(context, call)

    async def Classify(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Run a classification signature on ``tf.Example`` s."""

        async def call() -> Any:
            ref = model_ref(request.model_spec)
            with self.dataplane.metrics.observe(ref.name, "Classify", "GRPC"):
                async with self.dataplane.servable(ref) as servable:
                    signature = servable.classification_signature(request.model_spec.signature_name)
                    examples = codec.input_proto_to_examples(request.input)
                    rows = await self.dataplane.classify(servable, signature, examples)
                    response = classification_pb2.ClassificationResponse()
                    _fill_spec(response.model_spec, ref.name, servable.version, signature.name)
                    for row in rows:
                        result = response.result.classifications.add()
                        for label, score in row:
                            result.classes.add(label=label, score=score)
                    return response

        return await _guard(context, call)

    async def Regress(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Run a regression signature on ``tf.Example`` s."""

        async def call() -> Any:
            ref = model_ref(request.model_spec)
            with self.dataplane.metrics.observe(ref.name, "Regress", "GRPC"):
                async with self.dataplane.servable(ref) as servable:
                    signature = servable.regression_signature(request.model_spec.signature_name)
                    examples = codec.input_proto_to_examples(request.input)
                    values = await self.dataplane.regress(servable, signature, examples)
                    response = regression_pb2.RegressionResponse()
                    _fill_spec(response.model_spec, ref.name, servable.version, signature.name)
                    for value in values:
                        response.result.regressions.add(value=value)
                    return response

        return await _guard(context, call)

    async def GetModelMetadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Signature defs of a model version (only the ``signature_def`` field exists)."""

        async def call() -> Any:
            # ValidateGetModelMetadataRequest's checks and texts.
            if not request.HasField("model_spec"):
                raise InvalidArgument("Missing ModelSpec")
            fields = list(request.metadata_field)
            if not fields:
                raise InvalidArgument(
                    "GetModelMetadataRequest must specify at least one metadata_field"
                )
            for field in fields:
                if field != "signature_def":
                    raise InvalidArgument(f"Metadata field {field} is not supported")
            ref = model_ref(request.model_spec)
            with self.dataplane.metrics.observe(ref.name, "GetModelMetadata", "GRPC"):
                async with self.dataplane.servable(ref) as servable:
                    return responses.metadata_response(servable)

        return await _guard(context, call)


class ModelService(model_service_pb2_grpc.ModelServiceServicer):  # type: ignore[misc]
    """GetModelStatus and HandleReloadConfigRequest."""

    def __init__(self, dataplane: DataPlane, config_dir: Path) -> None:
        self.dataplane = dataplane
        self.config_dir = config_dir

    async def GetModelStatus(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Version states of a model."""

        async def call() -> Any:
            if not request.HasField("model_spec"):
                raise InvalidArgument("Missing ModelSpec")
            ref = model_ref(request.model_spec)
            with self.dataplane.metrics.observe(ref.name, "GetModelStatus", "GRPC"):
                response: get_model_status_pb2.GetModelStatusResponse = responses.status_response(
                    self.dataplane.manager.status(ref)
                )
                return response

        return await _guard(context, call)

    async def HandleReloadConfigRequest(
        self, request: Any, context: grpc.aio.ServicerContext
    ) -> Any:
        """Replace the served model list; errors are reported in the response status."""
        response = model_management_pb2.ReloadConfigResponse()
        try:
            specs = model_specs_from_proto(request.config, self.config_dir, "ReloadConfigRequest")
            await self.dataplane.manager.apply_config(specs)
        except ServingError as exc:
            response.status.error_code = exc.grpc_code.value[0]
            response.status.error_message = exc.message
        return response


def add_services(server: grpc.aio.Server, dataplane: DataPlane, config_dir: Path) -> None:
    """Register both services on a server."""
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(dataplane), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(
        ModelService(dataplane, config_dir), server
    )
