"""Open Inference Protocol (v2) REST, JSON tensors and the binary tensor data extension."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from gateway import __version__
from gateway.dataplane.routing import Target
from gateway.deps import AppState, StateDep, authenticate
from gateway.errors import ModelNotReady, from_wire
from gateway.routers._http import JSON, Observation, check_json_content_type, client_timeout_s
from gateway.routers.inference import Operation
from gateway.schemas import v2 as s
from gateway.schemas.common import ERROR_RESPONSES
from wire import WireError
from wire import v2 as codec
from wire.arrays import loads
from wire.dtypes import NAME_TO_V2

HEADER_LENGTH = "inference-header-content-length"

TAG = "Open Inference Protocol (v2)"
router = APIRouter(prefix="/v2", tags=[TAG], responses=ERROR_RESPONSES)
health = APIRouter(prefix="/v2/health", tags=[TAG])
_auth = [Depends(authenticate)]

_INFER_DOC: dict[str, Any] = {
    "requestBody": {
        "description": "JSON, or with the binary extension a JSON header of "
        "`Inference-Header-Content-Length` bytes followed by raw tensor bytes "
        "(`application/octet-stream`).",
    },
    "parameters": [
        {
            "name": "Inference-Header-Content-Length",
            "in": "header",
            "required": False,
            "schema": {"type": "integer", "minimum": 0},
            "description": "Length of the JSON header (binary tensor data extension).",
        }
    ],
}


@router.get(
    "",
    operation_id="v2_server_metadata",
    response_model=s.ServerMetadataResponse,
    dependencies=_auth,
)
async def server_metadata() -> s.ServerMetadataResponse:
    """Server name, version and protocol extensions."""
    return s.ServerMetadataResponse(
        name="tandem-gateway", version=__version__, extensions=["binary_tensor_data"]
    )


@health.get("/live", operation_id="v2_health_live")
async def live() -> dict[str, bool]:
    """The gateway process answers."""
    return {"live": True}


@health.get("/ready", operation_id="v2_health_ready", responses={503: ERROR_RESPONSES[503]})
async def ready(state: StateDep) -> Response:
    """Every routed model answers on its backend (503 otherwise)."""
    results = await state.dataplane.readiness()
    if not all(results.values()):
        down = sorted(k for k, ok in results.items() if not ok)
        raise ModelNotReady(f"models not ready: {down}")
    return Response(orjson.dumps({"ready": True}), media_type=JSON)


def _target(state: StateDep, request: Request, model: str, version: str | None) -> Target:
    sticky = request.headers.get(state.settings.sticky_header)
    variant = request.headers.get(state.settings.variant_header)
    return state.dataplane.resolve(model, version=version, sticky_key=sticky, variant=variant)


async def _metadata(state: StateDep, target: Target) -> s.ModelMetadataResponse:
    meta = await state.dataplane.metadata(target)
    signature = meta.signatures.get(meta.default_signature) or next(iter(meta.signatures.values()))
    return s.ModelMetadataResponse(
        name=target.public_name,
        versions=[str(v) for v in target.route.versions],
        platform=meta.platform,
        inputs=[
            s.MetadataTensor(name=t.name, datatype=NAME_TO_V2[t.dtype], shape=list(t.shape))
            for t in signature.inputs
        ],
        outputs=[
            s.MetadataTensor(name=t.name, datatype=NAME_TO_V2[t.dtype], shape=list(t.shape))
            for t in signature.outputs
        ],
    )


@router.get(
    "/models/{model}",
    operation_id="v2_model_metadata",
    response_model=s.ModelMetadataResponse,
    dependencies=_auth,
)
async def model_metadata(state: StateDep, request: Request, model: str) -> s.ModelMetadataResponse:
    """Inputs and outputs of the default version."""
    return await _metadata(state, _target(state, request, model, None))


@router.get(
    "/models/{model}/versions/{version}",
    operation_id="v2_model_version_metadata",
    response_model=s.ModelMetadataResponse,
    dependencies=_auth,
)
async def model_version_metadata(
    state: StateDep, request: Request, model: str, version: str
) -> s.ModelMetadataResponse:
    """Inputs and outputs of one version."""
    return await _metadata(state, _target(state, request, model, version))


async def _ready(state: StateDep, target: Target) -> s.ModelReadyResponse:
    await state.dataplane.require_ready(target)
    return s.ModelReadyResponse(name=target.public_name, ready=True)


@router.get(
    "/models/{model}/ready",
    operation_id="v2_model_ready",
    response_model=s.ModelReadyResponse,
    dependencies=_auth,
)
async def model_ready(state: StateDep, request: Request, model: str) -> s.ModelReadyResponse:
    """200 when the default version answers on its backend, else 503."""
    return await _ready(state, _target(state, request, model, None))


@router.get(
    "/models/{model}/versions/{version}/ready",
    operation_id="v2_model_version_ready",
    response_model=s.ModelReadyResponse,
    dependencies=_auth,
)
async def model_version_ready(
    state: StateDep, request: Request, model: str, version: str
) -> s.ModelReadyResponse:
    """200 when the version answers on its backend, else 503."""
    return await _ready(state, _target(state, request, model, version))


async def serve_infer(
    state: AppState, request: Request, request_id: str, model: str, version: str | None = None
) -> Response:
    """Core of the two ``/infer`` endpoints (run after authentication)."""
    with Observation(state.metrics, "v2", model) as obs:
        target = obs.target = _target(state, request, model, version)
        deadline_s = client_timeout_s(request, state.settings.deadline_header)
        header_length = request.headers.get(HEADER_LENGTH)
        v2_body: tuple[bytes, int] | None = None
        try:
            if header_length is not None:
                length = codec.parse_header_length(header_length)
                assert length is not None
                raw = await request.body()
                header, tail = codec.split_binary(raw, length)
                decoded = codec.decode_infer_request(header, tail)
                v2_body = (raw, length)
            else:
                check_json_content_type(request)
                decoded = codec.decode_infer_request(loads(await request.body()))
        except WireError as exc:
            raise from_wire(exc) from exc
        wanted = tuple(o.name for o in decoded.outputs) if decoded.outputs else None
        result = await state.dataplane.infer(
            target,
            decoded.inputs,
            output_names=wanted,
            request_id=request_id,
            v2_body=v2_body,
            deadline_s=deadline_s,
        )
        body, response_header_length = codec.encode_infer_response(
            model_name=target.public_name,
            model_version=str(result.version),
            outputs=result.outputs,
            request_id=decoded.id,
            requested=decoded.outputs,
            binary_output=decoded.binary_output,
        )
        if response_header_length is None:
            return Response(body, media_type=JSON)
        return Response(
            body,
            media_type="application/octet-stream",
            headers={"Inference-Header-Content-Length": str(response_header_length)},
        )


#: The ``/infer`` endpoints, served as plain routes (``gateway.routers.inference``).
OPERATIONS = (
    Operation(
        path="/v2/models/{model}/infer",
        operation_id="v2_infer",
        handler=serve_infer,
        summary="Infer with the default version (or a canary split)",
        tag=TAG,
        request_model=s.InferenceRequest,
        response_model=s.InferenceResponse,
        request_doc=_INFER_DOC,
    ),
    Operation(
        path="/v2/models/{model}/versions/{version}/infer",
        operation_id="v2_infer_version",
        handler=serve_infer,
        summary="Infer with one version",
        tag=TAG,
        request_model=s.InferenceRequest,
        response_model=s.InferenceResponse,
        request_doc=_INFER_DOC,
    ),
)
