"""TensorFlow Serving adapter: gRPC ``PredictionService``/``ModelService``, REST fallback.

Inference requests smaller than ``rest_below_bytes`` use the REST API when the server has one
(cheaper per call for the gateway than grpc.aio); bigger ones use gRPC ``tensor_content``.

Works with the official server and with the project's compatible one (same API). Uses the
gateway's own wire-compatible protos; never imports TensorFlow.
"""

from __future__ import annotations

from typing import Any

import grpc
import orjson

from gateway._pb import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)
from gateway.backends import _grpc
from gateway.backends._http import HttpClient
from gateway.backends.base import (
    ExampleCall,
    InferCall,
    InferResult,
    ModelMetadata,
    Signature,
)
from gateway.backends.error_map import from_grpc, from_http
from gateway.codecs.tensor_proto import array_to_tensor_proto, tensor_proto_to_array
from gateway.errors import UpstreamError
from gateway.route_table import BackendRoute, ModelRoute, TensorSpec
from wire.arrays import array_to_json, json_to_array
from wire.dtypes import TF_ENUM_VALUES, TF_TO_NAME

_AVAILABLE = 30
_PLATFORM = "tensorflow_serving"
_DUMPS = orjson.OPT_SERIALIZE_NUMPY


class _GrpcTransport:
    """``PredictionService``/``ModelService`` over one grpc.aio channel (``tensor_content``)."""

    def __init__(self, name: str, target: str) -> None:
        self.name = name
        self._target = target
        self._channel: Any = None
        self._predict_stub: Any = None
        self._models_stub: Any = None

    def _open(self) -> None:
        # Channels are opened on first use, inside the serving event loop.
        self._channel = _grpc.open_channel(self._target)
        self._predict_stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._models_stub = model_service_pb2_grpc.ModelServiceStub(self._channel)

    @property
    def _predict(self) -> Any:
        if self._predict_stub is None:
            self._open()
        return self._predict_stub

    @property
    def _models(self) -> Any:
        if self._models_stub is None:
            self._open()
        return self._models_stub

    @staticmethod
    def _spec(route: ModelRoute, version: int | None, signature: bool = True) -> Any:
        spec = model_pb2.ModelSpec(name=route.upstream_name)
        if version is not None:  # no version: the server's latest loaded one answers
            spec.version.value = version
        if signature:
            spec.signature_name = route.signature_name or "serving_default"
        return spec

    async def infer(self, call: InferCall) -> InferResult:
        version = None if call.latest else call.version
        request = predict_pb2.PredictRequest(model_spec=self._spec(call.route, version))
        for name, array in call.inputs.items():
            request.inputs[name].CopyFrom(array_to_tensor_proto(array))
        if call.output_names:
            request.output_filter.extend(call.output_names)
        try:
            metadata = (("x-request-id", call.request_id), *(call.trace or {}).items())
            response = await self._predict.Predict(
                request, timeout=call.timeout_s, metadata=metadata
            )
        except grpc.aio.AioRpcError as exc:
            raise from_grpc(exc, self.name, "predict") from exc
        try:
            outputs = {k: tensor_proto_to_array(v) for k, v in response.outputs.items()}
        except ValueError as exc:
            raise UpstreamError(f"{self.name}: unreadable predict response: {exc}") from exc
        answered = response.model_spec.version.value if response.HasField("model_spec") else 0
        return InferResult(_in_route_order(call.route, outputs), int(answered) or call.version)

    async def metadata(self, route: ModelRoute, version: int, timeout_s: float) -> ModelMetadata:
        request = get_model_metadata_pb2.GetModelMetadataRequest(
            model_spec=self._spec(route, version, signature=False),
            metadata_field=["signature_def"],
        )
        try:
            response = await self._predict.GetModelMetadata(request, timeout=timeout_s)
        except grpc.aio.AioRpcError as exc:
            raise from_grpc(exc, self.name, "metadata") from exc
        packed = response.metadata.get("signature_def")
        if packed is None or not packed.type_url.endswith("/tensorflow.serving.SignatureDefMap"):
            raise UpstreamError(f"{self.name}: metadata without a signature_def map")
        sigmap = get_model_metadata_pb2.SignatureDefMap.FromString(packed.value)
        signatures = {
            name: Signature(
                sig.method_name,
                tuple(_spec_from_info(k, v) for k, v in sorted(sig.inputs.items())),
                tuple(_spec_from_info(k, v) for k, v in sorted(sig.outputs.items())),
            )
            for name, sig in sigmap.signature_def.items()
            if not name.startswith("__")
        }
        return ModelMetadata(_PLATFORM, route.signature_name or "serving_default", signatures)

    async def ready(self, route: ModelRoute, version: int, timeout_s: float) -> bool:
        request = get_model_status_pb2.GetModelStatusRequest(
            model_spec=self._spec(route, version, signature=False)
        )
        try:
            response = await self._models.GetModelStatus(request, timeout=timeout_s)
        except grpc.aio.AioRpcError as exc:
            error = from_grpc(exc, self.name, "status")
            if isinstance(error, UpstreamError):
                raise error from exc
            return False
        return any(
            s.version == version and s.state == _AVAILABLE for s in response.model_version_status
        )

    async def aclose(self) -> None:
        if self._channel is not None:
            await self._channel.close()


class _RestTransport:
    """TF Serving's REST API over the gateway's keep-alive HTTP/1.1 client."""

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self._http = HttpClient(name, url)

    @staticmethod
    def _path(route: ModelRoute, version: int | None) -> str:
        if version is None:  # the server's latest loaded version answers
            return f"/v1/models/{route.upstream_name}"
        return f"/v1/models/{route.upstream_name}/versions/{version}"

    async def infer(self, call: InferCall) -> InferResult:
        payload = {
            "signature_name": call.route.signature_name or "serving_default",
            "inputs": {k: array_to_json(v) for k, v in call.inputs.items()},
        }
        if call.output_names:
            payload["output_filter"] = list(call.output_names)
        status, body = await self._http.request(
            "POST",
            self._path(call.route, None if call.latest else call.version) + ":predict",
            body=orjson.dumps(payload, option=_DUMPS),
            headers={
                "Content-Type": "application/json",
                "X-Request-ID": call.request_id,
                **(call.trace or {}),
            },
            timeout_s=call.timeout_s,
            what="predict",
        )
        if status != 200:
            raise from_http(status, body, self.name, "predict")
        try:
            outputs = orjson.loads(body)["outputs"]
            specs = {o.name: o.dtype for o in call.route.outputs}
            if not isinstance(outputs, dict):
                wanted = list(call.output_names or specs)
                if len(wanted) != 1:
                    raise ValueError("single unnamed output for a multi-output model")
                outputs = {wanted[0]: outputs}
            arrays = {k: json_to_array(k, v, specs.get(k, "float32")) for k, v in outputs.items()}
        except (KeyError, ValueError, TypeError) as exc:
            raise UpstreamError(f"{self.name}: unreadable predict response: {exc}") from exc
        return InferResult(_in_route_order(call.route, arrays), call.version)

    async def metadata(self, route: ModelRoute, version: int, timeout_s: float) -> ModelMetadata:
        status, body = await self._http.request(
            "GET", self._path(route, version) + "/metadata", timeout_s=timeout_s, what="metadata"
        )
        if status != 200:
            raise from_http(status, body, self.name, "metadata")
        try:
            defs = orjson.loads(body)["metadata"]["signature_def"]["signature_def"]
            signatures = {
                name: Signature(
                    sig.get("method_name", ""),
                    tuple(_spec_from_json(k, v) for k, v in sorted(sig["inputs"].items())),
                    tuple(_spec_from_json(k, v) for k, v in sorted(sig["outputs"].items())),
                )
                for name, sig in defs.items()
                if not name.startswith("__")
            }
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UpstreamError(f"{self.name}: unreadable metadata: {exc}") from exc
        return ModelMetadata(_PLATFORM, route.signature_name or "serving_default", signatures)

    async def ready(self, route: ModelRoute, version: int, timeout_s: float) -> bool:
        status, body = await self._http.request(
            "GET", self._path(route, version), timeout_s=timeout_s, what="status"
        )
        if status != 200:
            return False
        try:
            states = orjson.loads(body)["model_version_status"]
            return any(
                str(s.get("version")) == str(version) and s.get("state") == "AVAILABLE"
                for s in states
            )
        except (KeyError, TypeError, ValueError):
            return False

    async def examples(self, call: ExampleCall) -> dict[str, Any]:
        # tf.Example inputs are forwarded verbatim: the gateway keeps no Example protos, and
        # TF Serving's REST API accepts exactly the public JSON body.
        status, raw = await self._http.request(
            "POST",
            self._path(call.route, call.version) + f":{call.method}",
            body=orjson.dumps(call.body),
            headers={
                "Content-Type": "application/json",
                "X-Request-ID": call.request_id,
                **(call.trace or {}),
            },
            timeout_s=call.timeout_s,
            what=call.method,
        )
        if status != 200:
            raise from_http(status, raw, self.name, call.method)
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise UpstreamError(f"{self.name}: unreadable {call.method} response") from exc
        if not isinstance(parsed, dict):
            raise UpstreamError(f"{self.name}: unreadable {call.method} response")
        return parsed

    async def aclose(self) -> None:
        await self._http.aclose()


class TFServingBackend:
    """Adapter for one TF Serving server; has the :class:`SupportsExamples` capability.

    The transports are chosen once: gRPC when preferred and the server has a target, else
    REST, for metadata, readiness and inferences; inferences whose tensors are smaller than
    ``rest_below_bytes`` take REST when there is one; ``:classify``/``:regress`` always REST.
    """

    def __init__(
        self,
        name: str,
        config: BackendRoute,
        *,
        prefer_grpc: bool = True,
        rest_below_bytes: int = 0,
    ) -> None:
        self.name = name
        rest = _RestTransport(name, config.rest_url) if config.rest_url else None
        grpc_transport = (
            _GrpcTransport(name, config.grpc_target) if prefer_grpc and config.grpc_target else None
        )
        main = grpc_transport or rest
        if main is None:
            raise ValueError(f"backend {name!r} has neither grpc_target nor rest_url")
        self._main: _GrpcTransport | _RestTransport = main
        self._rest = rest
        # Small inferences go over REST when there is one (see GatewaySettings).
        self._small = rest if grpc_transport is not None and rest_below_bytes else None
        self._rest_below = rest_below_bytes

    async def infer(self, call: InferCall) -> InferResult:
        small = self._small
        if small is not None and sum(a.nbytes for a in call.inputs.values()) < self._rest_below:
            return await small.infer(call)
        return await self._main.infer(call)

    async def metadata(self, route: ModelRoute, version: int, timeout_s: float) -> ModelMetadata:
        return await self._main.metadata(route, version, timeout_s)

    async def ready(self, route: ModelRoute, version: int, timeout_s: float) -> bool:
        return await self._main.ready(route, version, timeout_s)

    async def examples(self, call: ExampleCall) -> dict[str, Any]:
        if self._rest is None:
            raise UpstreamError(f"{self.name}: no rest_url configured for :{call.method}")
        return await self._rest.examples(call)

    async def aclose(self) -> None:
        await self._main.aclose()
        if self._rest is not None and self._rest is not self._main:
            await self._rest.aclose()


def _in_route_order(route: ModelRoute, outputs: dict[str, Any]) -> dict[str, Any]:
    ordered = {o.name: outputs[o.name] for o in route.outputs if o.name in outputs}
    ordered.update((k, v) for k, v in outputs.items() if k not in ordered)
    return ordered


def _spec_from_info(name: str, info: Any) -> TensorSpec:
    shape = () if info.tensor_shape.unknown_rank else tuple(d.size for d in info.tensor_shape.dim)
    return TensorSpec(name=name, dtype=TF_TO_NAME.get(info.dtype, "string"), shape=shape)  # type: ignore[arg-type]


def _spec_from_json(name: str, info: dict[str, Any]) -> TensorSpec:
    shape_json = info.get("tensor_shape", {})
    dims = (
        ()
        if shape_json.get("unknown_rank")
        else tuple(int(d.get("size", -1)) for d in shape_json.get("dim", []))
    )
    dtype = TF_TO_NAME.get(TF_ENUM_VALUES.get(info.get("dtype", ""), -1), "string")
    return TensorSpec(name=name, dtype=dtype, shape=dims)  # type: ignore[arg-type]
