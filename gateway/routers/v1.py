"""TF Serving REST API (v1) for every routed model, TensorFlow and PyTorch alike."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from gateway.backends.base import ModelMetadata
from gateway.dataplane.routing import Target
from gateway.deps import AppState, DataPlaneDep, RequestIdDep, StateDep, authenticate
from gateway.errors import BadRequest, from_wire
from gateway.route_table import RouteTable
from gateway.routers._http import JSON, Observation, client_timeout_s, json_response, read_json
from gateway.routers.inference import Operation
from gateway.schemas import v1 as s
from gateway.schemas.common import ERROR_RESPONSES
from wire import WireError, v1
from wire.dtypes import NAME_TO_TF, TF_ENUM_NAMES

TAG = "TF Serving REST (v1)"
router = APIRouter(
    prefix="/v1/models",
    tags=[TAG],
    dependencies=[Depends(authenticate)],
    responses=ERROR_RESPONSES,
)


#: Bodies read raw by FastAPI routes here, documented by reference (see ``_body_doc``).
RAW_BODY_MODELS = (s.ExampleRequest,)


def _body_doc(model: type[Any]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {JSON: {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
        }
    }


def _target(
    state: StateDep, request: Request, model: str, version: str | None, label: str | None
) -> Target:
    sticky = request.headers.get(state.settings.sticky_header)
    variant = request.headers.get(state.settings.variant_header)
    return state.dataplane.resolve(
        model, version=version, label=label, sticky_key=sticky, variant=variant
    )


# -- listing, status, metadata ---------------------------------------------------------------


@router.get("", operation_id="v1_list_models", response_model=s.ModelList)
async def list_models(dataplane: DataPlaneDep) -> Response:
    """Every routed model: framework, backend, versions, labels and state; then every twin,
    its variants and state (extension)."""
    table = dataplane.table  # the table summaries() lists: no await in between
    summaries = await dataplane.summaries()
    body = s.ModelList(
        models=[
            s.ModelInfo(
                name=m.name,
                framework=m.framework,
                backend=m.backend,
                versions=list(m.versions),
                default_version=m.default_version,
                labels=m.labels,
                state="AVAILABLE" if m.ready else "UNAVAILABLE",
            )
            for m in summaries
        ],
        twins=_twin_infos(table, {m.name: m.ready for m in summaries}),
    )
    return Response(body.model_dump_json(), media_type=JSON)


def _twin_infos(table: RouteTable, ready: dict[str, bool]) -> list[s.TwinInfo]:
    infos = []
    for name, twin in table.twins.items():
        serving = [v for v, spec in twin.variants.items() if spec.weight > 0 or v == twin.default]
        variants = [
            s.TwinVariantInfo(
                name=v,
                weight=spec.weight,
                role="default"
                if v == twin.default
                else "shadow"
                if v == twin.shadow
                else "variant",
            )
            for v, spec in twin.variants.items()
        ]
        infos.append(
            s.TwinInfo(
                name=name,
                default=twin.default,
                shadow=twin.shadow,
                variants=variants,
                state="AVAILABLE" if all(ready.get(v, False) for v in serving) else "UNAVAILABLE",
            )
        )
    return infos


async def _status(state: StateDep, target: Target, all_versions: bool) -> Response:
    versions = target.route.versions if all_versions else (target.version,)
    entries = []
    for version in versions:
        ready = await state.dataplane.model_ready(
            state.dataplane.resolve(target.model, version=version)
        )
        entries.append(
            s.VersionStatus(
                version=str(version),
                state="AVAILABLE" if ready else "UNKNOWN",
                status=s.Status()
                if ready
                else s.Status(error_code="UNAVAILABLE", error_message="backend does not answer"),
            )
        )
    return Response(
        s.ModelStatusResponse(model_version_status=entries).model_dump_json(), media_type=JSON
    )


@router.get("/{model}", operation_id="v1_model_status", response_model=s.ModelStatusResponse)
async def model_status(state: StateDep, request: Request, model: str) -> Response:
    """Status of every version of a model."""
    return await _status(state, _target(state, request, model, None, None), True)


@router.get(
    "/{model}/versions/{version}",
    operation_id="v1_model_version_status",
    response_model=s.ModelStatusResponse,
)
async def model_version_status(
    state: StateDep, request: Request, model: str, version: str
) -> Response:
    """Status of one version."""
    return await _status(state, _target(state, request, model, version, None), False)


@router.get(
    "/{model}/labels/{label}",
    operation_id="v1_model_label_status",
    response_model=s.ModelStatusResponse,
)
async def model_label_status(state: StateDep, request: Request, model: str, label: str) -> Response:
    """Status of the version a label points at."""
    return await _status(state, _target(state, request, model, None, label), False)


def metadata_body(target: Target, meta: ModelMetadata) -> s.MetadataResponse:
    """TF Serving's metadata document, for TensorFlow and PyTorch models alike."""

    def info(sig: str, spec: Any) -> s.TensorInfo:
        return s.TensorInfo(
            dtype=TF_ENUM_NAMES.get(NAME_TO_TF[spec.dtype], "DT_INVALID"),
            tensor_shape=s.TensorShape(dim=[{"size": str(d), "name": ""} for d in spec.shape]),
            name=f"{sig}_{spec.name}:0",
        )

    return s.MetadataResponse(
        model_spec=s.ModelSpec(
            name=target.public_name, signature_name="", version=str(target.version)
        ),
        metadata=s.ModelMetadata(
            signature_def=s.SignatureDefMap(
                signature_def={
                    name: s.SignatureDef(
                        inputs={t.name: info(name, t) for t in sig.inputs},
                        outputs={t.name: info(name, t) for t in sig.outputs},
                        method_name=sig.method_name,
                    )
                    for name, sig in meta.signatures.items()
                }
            )
        ),
    )


async def _metadata(state: StateDep, target: Target) -> Response:
    meta = await state.dataplane.metadata(target)
    return Response(metadata_body(target, meta).model_dump_json(), media_type=JSON)


@router.get(
    "/{model}/metadata", operation_id="v1_model_metadata", response_model=s.MetadataResponse
)
async def model_metadata(state: StateDep, request: Request, model: str) -> Response:
    """Signatures of the default version."""
    return await _metadata(state, _target(state, request, model, None, None))


@router.get(
    "/{model}/versions/{version}/metadata",
    operation_id="v1_model_version_metadata",
    response_model=s.MetadataResponse,
)
async def model_version_metadata(
    state: StateDep, request: Request, model: str, version: str
) -> Response:
    """Signatures of one version."""
    return await _metadata(state, _target(state, request, model, version, None))


@router.get(
    "/{model}/labels/{label}/metadata",
    operation_id="v1_model_label_metadata",
    response_model=s.MetadataResponse,
)
async def model_label_metadata(
    state: StateDep, request: Request, model: str, label: str
) -> Response:
    """Signatures of the version a label points at."""
    return await _metadata(state, _target(state, request, model, None, label))


# -- predict / classify / regress ------------------------------------------------------------


async def serve_predict(
    state: AppState,
    request: Request,
    request_id: str,
    model: str,
    version: str | None = None,
    label: str | None = None,
) -> Response:
    """Core of the three ``:predict`` endpoints (run after authentication)."""
    with Observation(state.metrics, "v1", model) as obs:
        target = obs.target = _target(state, request, model, version, label)
        deadline_s = client_timeout_s(request, state.settings.deadline_header)
        body = await read_json(request)
        dtypes = {spec.name: spec.dtype for spec in target.route.inputs}
        try:
            decoded = v1.decode_predict(body, dtypes)
        except WireError as exc:
            raise from_wire(exc) from exc
        result = await state.dataplane.infer(
            target,
            decoded.inputs,
            output_names=None,
            request_id=request_id,
            signature_name=decoded.signature_name,
            deadline_s=deadline_s,
        )
        return Response(v1.encode_predict(result.outputs, decoded.layout), media_type=JSON)


#: The ``:predict`` endpoints, served as plain routes (``gateway.routers.inference``).
OPERATIONS = tuple(
    Operation(
        path=f"/v1/models/{path}:predict",
        operation_id=operation_id,
        handler=serve_predict,
        summary=summary,
        tag=TAG,
        request_model=s.PredictRequest,
        response_model=s.PredictResponse,
    )
    for path, operation_id, summary in (
        ("{model}", "v1_predict", "Predict with the default version (or a canary split)"),
        ("{model}/versions/{version}", "v1_predict_version", "Predict with one version"),
        (
            "{model}/labels/{label}",
            "v1_predict_label",
            "Predict with the version a label points at",
        ),
    )
)


async def _example(
    state: StateDep,
    request: Request,
    request_id: str,
    model: str,
    version: str | None,
    label: str | None,
    method: Literal["classify", "regress"],
) -> Response:
    with Observation(state.metrics, "v1", model) as obs:
        target = obs.target = _target(state, request, model, version, label)
        body = await read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("examples"), list):
            raise BadRequest("body must be an object with an 'examples' list")
        answer = await state.dataplane.example_method(target, method, body, request_id)
        return json_response(answer)


def _add_example_routes(method: Literal["classify", "regress"]) -> None:
    doc = _body_doc(s.ExampleRequest)

    async def default(
        state: StateDep, request: Request, request_id: RequestIdDep, model: str
    ) -> Response:
        return await _example(state, request, request_id, model, None, None, method)

    async def by_version(
        state: StateDep, request: Request, request_id: RequestIdDep, model: str, version: str
    ) -> Response:
        return await _example(state, request, request_id, model, version, None, method)

    async def by_label(
        state: StateDep, request: Request, request_id: RequestIdDep, model: str, label: str
    ) -> Response:
        return await _example(state, request, request_id, model, None, label, method)

    summary = f"{method.capitalize()} tf.Examples (TensorFlow signatures with that method)"
    for path, endpoint, suffix in (
        (f"/{{model}}:{method}", default, ""),
        (f"/{{model}}/versions/{{version}}:{method}", by_version, "_version"),
        (f"/{{model}}/labels/{{label}}:{method}", by_label, "_label"),
    ):
        router.add_api_route(
            path,
            endpoint,
            methods=["POST"],
            operation_id=f"v1_{method}{suffix}",
            summary=summary,
            response_model=s.ExampleResponse,
            openapi_extra=doc,
        )


_add_example_routes("classify")
_add_example_routes("regress")
