"""Operations endpoints: liveness, readiness, Prometheus metrics, the OpenAPI document."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import HTMLResponse, Response

from gateway.deps import StateDep, authenticate
from gateway.routers import v1, v2
from gateway.routers.inference import openapi_paths
from gateway.schemas.common import ERROR_RESPONSES, Liveness, Readiness

router = APIRouter(tags=["Operations"])


def openapi_document(request: Request) -> dict[str, Any]:
    """FastAPI's document of its own routes plus the inference routes' paths and schemas
    (generated from their declarations), built once per app."""
    app = request.app
    cached: dict[str, Any] | None = getattr(app.state, "openapi_document", None)
    if cached is not None:
        return cached
    doc = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
    paths, schemas = openapi_paths((*v1.OPERATIONS, *v2.OPERATIONS), v1.RAW_BODY_MODELS)
    doc["paths"] = {**paths, **doc.get("paths", {})}
    doc.setdefault("components", {}).setdefault("schemas", {}).update(schemas)
    app.state.openapi_document = doc
    return doc


@router.get("/openapi.json", include_in_schema=False)
async def openapi(request: Request) -> Response:
    """The OpenAPI document of every endpoint."""
    return Response(orjson.dumps(openapi_document(request)), media_type="application/json")


@router.get("/docs", include_in_schema=False)
async def docs(request: Request) -> HTMLResponse:
    """Swagger UI over ``/openapi.json`` (relative to a mount prefix, if any)."""
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(openapi_url=f"{root}/openapi.json", title="Tandem gateway")


@router.get("/healthz", operation_id="ops_healthz", response_model=Liveness)
async def healthz() -> Liveness:
    """The gateway process answers (no backend call)."""
    return Liveness()


@router.get(
    "/readyz",
    operation_id="ops_readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Some model is not ready"}},
)
async def readyz(state: StateDep) -> Response:
    """Every routed model answers on its backend: 200, else 503 with the per-model map."""
    models = await state.dataplane.readiness()
    body = Readiness(ready=all(models.values()), models=models)
    return Response(
        body.model_dump_json(),
        status_code=200 if body.ready else 503,
        media_type="application/json",
    )


@router.get(
    "/metrics",
    operation_id="ops_metrics",
    dependencies=[Depends(authenticate)],
    responses={401: ERROR_RESPONSES[401]},
    response_class=Response,
)
async def metrics(state: StateDep) -> Response:
    """Prometheus metrics (model readiness is refreshed first, from the readiness cache)."""
    await state.dataplane.readiness()
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
