"""``GET /ui``: the status page, and ``GET /ui/status``, the figures it polls.

The page is one self-contained file (``ui.html``, no CDN, no build step). It holds no data:
everything it shows comes from ``/ui/status``, which is open on a loopback bind in
development (what ``make up`` runs) and otherwise needs a valid API key, like the inference
API. Without one the page asks for a key and shows nothing.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from gateway.deps import AppState, StateDep, authenticate_request
from gateway.schemas.common import ERROR_RESPONSES
from gateway.schemas.status import StatusReport
from gateway.settings import is_loopback
from gateway.status import StatusSampler, status_report

router = APIRouter(prefix="/ui", tags=["Status page"])


@cache
def _page() -> str:
    return files("gateway.routers").joinpath("ui.html").read_text(encoding="utf-8")


def page_is_open(state: AppState) -> bool:
    """No key needed: development on a loopback bind."""
    s = state.settings
    return s.environment == "development" and is_loopback(s.host)


async def _allowed(state: StateDep, request: Request) -> None:
    if not page_is_open(state):
        await authenticate_request(state, request)


async def get_sampler(state: StateDep, request: Request) -> StatusSampler:
    sampler = getattr(request.app.state, "status_sampler", None)
    if not isinstance(sampler, StatusSampler):
        sampler = request.app.state.status_sampler = StatusSampler(state.metrics)
    return sampler


SamplerDep = Annotated[StatusSampler, Depends(get_sampler)]


@router.get("", operation_id="ui_page", response_class=HTMLResponse, include_in_schema=True)
async def page() -> HTMLResponse:
    """The status page (it fetches ``/ui/status`` every few seconds)."""
    return HTMLResponse(
        _page(),
        headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; "
            "style-src 'unsafe-inline'; connect-src 'self'; img-src data:",
        },
    )


@router.get(
    "/status",
    operation_id="ui_status",
    response_model=StatusReport,
    dependencies=[Depends(_allowed)],
    responses={401: ERROR_RESPONSES[401]},
)
async def status(state: StateDep, sampler: SamplerDep) -> StatusReport:
    """Every model's backend, versions, labels, readiness and live figures; recent errors."""
    return await status_report(state.dataplane, sampler, state.metrics)
