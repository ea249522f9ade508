"""Open Inference Protocol (v2) over gRPC: ``inference.GRPCInferenceService``.

The same dataplane as ``/v2`` REST; only the wire differs. ``model_version`` "" is the default
version (or a canary split), digits a version, anything else one of the model's labels (the
protocol has no labels of its own). Inputs arrive typed (``contents``) or raw
(``raw_input_contents``); the answer comes raw when they came raw (or a tensor has no typed
field), typed otherwise. Raw inputs reach a TorchServe model byte for byte, as the v2 binary
extension; TF Serving gets them as ``tensor_content``.
"""

from __future__ import annotations

from typing import Any

import grpc

from gateway import __version__
from gateway._pb import grpc_predict_v2_pb2 as pb
from gateway._pb import grpc_predict_v2_pb2_grpc as pb_grpc
from gateway.codecs.v2_proto import decode_infer_request, fill_infer_response, infer_body_from_raw
from gateway.dataplane.routing import Target
from gateway.errors import ModelNotFound, VersionNotFound
from gateway.grpc.call import Call, CallRunner
from wire.dtypes import NAME_TO_V2

PROTOCOL = "v2-grpc"
_SERVICE = "/inference.GRPCInferenceService/"


class InferenceService(pb_grpc.GRPCInferenceServiceServicer):  # type: ignore[misc]
    """The six calls of the protocol; Triton's extra calls answer UNIMPLEMENTED."""

    def __init__(self, runner: CallRunner) -> None:
        self._runner = runner
        self._state = runner.state

    def _target(self, call: Call, model: str, version: str) -> Target:
        dataplane = self._state.dataplane
        if not model:
            raise ModelNotFound("a model name is required")
        sticky = self._runner.sticky_key(call)
        variant = self._runner.variant(call)
        if not version or version.isdigit():
            return dataplane.resolve(
                model, version=version or None, sticky_key=sticky, variant=variant
            )
        route = dataplane.table.models.get(model)
        if route is not None and version not in route.labels:
            raise VersionNotFound(
                f"model {model!r} has no version or label {version!r}; versions: "
                f"{list(route.versions)}, labels: {sorted(route.labels)}"
            )
        return dataplane.resolve(model, label=version, sticky_key=sticky, variant=variant)

    async def ServerLive(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """The gateway process answers (no key needed, as ``/v2/health/live``)."""

        async def handle(call: Call) -> Any:
            return pb.ServerLiveResponse(live=True)

        return await self._runner.run(context, _SERVICE + "ServerLive", handle, authenticate=False)

    async def ServerReady(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Every routed model answers on its backend (no key needed, as ``/v2/health/ready``)."""

        async def handle(call: Call) -> Any:
            results = await self._state.dataplane.readiness()
            return pb.ServerReadyResponse(ready=all(results.values()))

        return await self._runner.run(context, _SERVICE + "ServerReady", handle, authenticate=False)

    async def ModelReady(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Whether the version answers on its backend now (NOT_FOUND for unknown names)."""

        async def handle(call: Call) -> Any:
            target = self._target(call, request.name, request.version)
            return pb.ModelReadyResponse(ready=await self._state.dataplane.model_ready(target))

        return await self._runner.run(context, _SERVICE + "ModelReady", handle)

    async def ServerMetadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Server name and version."""

        async def handle(call: Call) -> Any:
            return pb.ServerMetadataResponse(name="tandem-gateway", version=__version__)

        return await self._runner.run(context, _SERVICE + "ServerMetadata", handle)

    async def ModelMetadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Inputs and outputs of a version, as ``GET /v2/models/{m}[/versions/{v}]``."""

        async def handle(call: Call) -> Any:
            target = self._target(call, request.name, request.version)
            meta = await self._state.dataplane.metadata(target)
            signature = meta.signatures.get(meta.default_signature) or next(
                iter(meta.signatures.values())
            )
            response = pb.ModelMetadataResponse(
                name=target.public_name,
                versions=[str(v) for v in target.route.versions],
                platform=meta.platform,
            )
            for specs, out in (
                (signature.inputs, response.inputs),
                (signature.outputs, response.outputs),
            ):
                for spec in specs:
                    out.add(name=spec.name, datatype=NAME_TO_V2[spec.dtype], shape=list(spec.shape))
            return response

        return await self._runner.run(context, _SERVICE + "ModelMetadata", handle)

    async def ModelInfer(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """One inference through the dataplane (routing, validation, backend, shadow)."""
        settings = self._state.settings

        async def handle(call: Call) -> Any:
            target = call.target(self._target(call, request.model_name, request.model_version))
            decoded = decode_infer_request(request, max_elements=settings.grpc_max_message_bytes)
            v2_body = None
            backend = self._state.dataplane.table.backends.get(target.route.backend)
            if decoded.raw and backend is not None and backend.kind == "torchserve":
                # A v2-speaking backend takes the client's raw tensors as they came.
                v2_body = infer_body_from_raw(decoded.raw_inputs, decoded.outputs, call.request_id)
            result = await self._state.dataplane.infer(
                target,
                decoded.inputs,
                output_names=decoded.outputs,
                request_id=call.request_id,
                v2_body=v2_body,
                deadline_s=call.deadline_s,
            )
            response = pb.ModelInferResponse(
                model_name=target.public_name, model_version=str(result.version), id=request.id
            )
            fill_infer_response(response, result.outputs, raw=decoded.raw)
            return response

        return await self._runner.run(
            context,
            _SERVICE + "ModelInfer",
            handle,
            protocol=PROTOCOL,
            model=request.model_name,
        )
