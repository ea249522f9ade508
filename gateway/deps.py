"""FastAPI dependencies as ``Annotated`` aliases (the only place routers get state from).

Every dependency is ``async``: FastAPI runs a plain ``def`` dependency in a worker thread,
which costs more than the dependency itself. :func:`authenticate_request` is the one
authentication rule, run by the lean inference path (``gateway.routers.hot``) and by the
:func:`authenticate` dependency of every other route.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from gateway.dataplane.service import DataPlane
from gateway.errors import Unauthorized
from gateway.metrics import GatewayMetrics
from gateway.security.keys import KeyStore
from gateway.security.ratelimit import RateLimiter
from gateway.settings import GatewaySettings


@dataclass(slots=True)
class AppState:
    """Everything the routers need, built once by ``create_app``."""

    settings: GatewaySettings
    dataplane: DataPlane
    metrics: GatewayMetrics
    keys: KeyStore
    limiter: RateLimiter


async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.gateway
    return state


StateDep = Annotated[AppState, Depends(get_state)]


async def get_dataplane(state: StateDep) -> DataPlane:
    return state.dataplane


async def get_request_id(request: Request) -> str:
    request_id = getattr(request.state, "request_id", None)
    return request_id if isinstance(request_id, str) else uuid.uuid4().hex


_bearer = HTTPBearer(auto_error=False, description="API key as a bearer token")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")


def check_key(state: AppState, presented: str | None) -> str:
    """The caller id for a valid key (401 otherwise), after its rate limit (429)."""
    if state.settings.auth_disabled:
        caller = "anonymous"
    else:
        found = state.keys.identify(presented) if presented else None
        if found is None:
            raise Unauthorized("missing or invalid API key")
        caller = found
    state.limiter.check(caller)
    return caller


async def authenticate(
    state: StateDep,
    request: Request,
    _bearer_scheme: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    _key_scheme: Annotated[str | None, Depends(_api_key)],
) -> str:
    """The caller id for a valid key (401 otherwise), after its rate limit (429).

    The two security dependencies declare the schemes in the OpenAPI document; the key itself
    is read once, by :func:`authenticate_request`, the rule the lean inference path runs."""
    return await authenticate_request(state, request)


def bearer_token(authorization: str | None) -> str | None:
    """The credentials of an ``Authorization: Bearer <key>`` header, by ``HTTPBearer``'s rule
    (scheme case-insensitive, credentials stripped, ``None`` when either is missing), without
    building its pydantic credentials object."""
    scheme, _, credentials = (authorization or "").partition(" ")
    credentials = credentials.strip()
    return credentials if credentials and scheme.lower() == "bearer" else None


async def authenticate_request(state: AppState, request: Request) -> str:
    """The one authentication rule: ``Authorization: Bearer <key>``, else ``X-API-Key``, then
    :func:`check_key`. Run by the lean inference path and by :func:`authenticate`."""
    headers = request.headers
    token = bearer_token(headers.get("authorization"))
    presented = token if token is not None else headers.get("x-api-key")
    return check_key(state, presented)


DataPlaneDep = Annotated[DataPlane, Depends(get_dataplane)]
RequestIdDep = Annotated[str, Depends(get_request_id)]
