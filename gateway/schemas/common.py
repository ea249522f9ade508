"""Shapes shared by both protocols."""

from __future__ import annotations

from pydantic import BaseModel


class ErrorBody(BaseModel):
    """The error body of v1 and v2 alike."""

    error: str


class Readiness(BaseModel):
    """``GET /readyz``: overall readiness and each routed model's."""

    ready: bool
    models: dict[str, bool]


class Liveness(BaseModel):
    """``GET /healthz``."""

    status: str = "ok"


ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in {
        400: "Bad request or tensor (states expected name, dtype and shape)",
        401: "Missing or wrong API key",
        404: "Unknown model, version or label",
        413: "Body too large",
        415: "Unsupported media type",
        429: "Rate limited (see Retry-After)",
        502: "Backend failed",
        503: "Backend unavailable, model not ready, circuit open, or the model is at "
        "capacity (admission control; see Retry-After)",
        504: "Backend timed out",
    }.items()
}
