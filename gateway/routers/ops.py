"""Operations endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from gateway.deps import StateDep, authenticate
from gateway.schemas.common import ERROR_RESPONSES, Liveness, Readiness

router = APIRouter(tags=["Operations"])


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
