"""The gateway's error tree: one base class carrying its HTTP status, one body per protocol.

Every error the gateway answers with is a :class:`GatewayError`; adapters translate foreign
errors (grpc, HTTP connections, TorchServe, TF Serving) into these at the boundary, most specific
first, with ``raise ... from``. One exception handler (``gateway.routers.errors``) renders them
as ``{"error": "..."}``, which is the error body of both TF Serving REST v1 and OIP v2.

::

    GatewayError (500)
    ├── BadRequest (400)
    │   ├── InvalidTensor (400)        tensor does not match the route's input spec
    │   ├── UnsupportedSignature (400) :classify/:regress on a signature without that method
    │   └── UpstreamRejected (400)     the backend refused the (valid-looking) input
    ├── Unauthorized (401)
    ├── NotFound (404)
    │   ├── ModelNotFound (404)
    │   ├── VersionNotFound (404)
    │   ├── LabelNotFound (404)
    │   └── VariantNotFound (404)      a pinned twin variant that the twin does not have
    ├── PayloadTooLarge (413)
    ├── UnsupportedMediaType (415)
    ├── RateLimited (429)              carries ``retry_after`` seconds
    ├── UpstreamError (502)            the backend failed while serving a valid request
    ├── ServiceUnavailable (503)
    │   ├── BackendUnavailable (503)   connection refused / reset / UNAVAILABLE
    │   ├── ModelNotReady (503)
    │   ├── CircuitOpen (503)
    │   └── Overloaded (503)           shed by admission control; carries ``retry_after``
    └── UpstreamTimeout (504)
"""

from __future__ import annotations

from http import HTTPStatus

from wire import WireError


class GatewayError(Exception):
    """Base of every error the gateway answers with; ``status`` is its HTTP status."""

    status: HTTPStatus = HTTPStatus.INTERNAL_SERVER_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def headers(self) -> dict[str, str]:
        """Extra response headers for this error (e.g. ``Retry-After``)."""
        return {}


class BadRequest(GatewayError):
    status = HTTPStatus.BAD_REQUEST


class InvalidTensor(BadRequest):
    """A request tensor does not match the model's input spec (name, dtype or shape)."""


class UnsupportedSignature(BadRequest):
    """The requested signature does not implement the requested method."""


class UpstreamRejected(BadRequest):
    """The backend rejected the input as invalid (its message is passed through)."""


class Unauthorized(GatewayError):
    status = HTTPStatus.UNAUTHORIZED

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class NotFound(GatewayError):
    status = HTTPStatus.NOT_FOUND


class ModelNotFound(NotFound):
    pass


class VersionNotFound(NotFound):
    pass


class LabelNotFound(NotFound):
    pass


class VariantNotFound(NotFound):
    pass


class PayloadTooLarge(GatewayError):
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE


class UnsupportedMediaType(GatewayError):
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE


class RateLimited(GatewayError):
    status = HTTPStatus.TOO_MANY_REQUESTS

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(max(1, int(self.retry_after + 0.999)))}


class UpstreamError(GatewayError):
    status = HTTPStatus.BAD_GATEWAY


class ServiceUnavailable(GatewayError):
    status = HTTPStatus.SERVICE_UNAVAILABLE


class BackendUnavailable(ServiceUnavailable):
    """The backend could not be reached; ``sent`` says whether the request left the gateway."""

    def __init__(self, message: str, *, sent: bool = True) -> None:
        super().__init__(message)
        self.sent = sent


class ModelNotReady(ServiceUnavailable):
    pass


class CircuitOpen(ServiceUnavailable):
    pass


class Overloaded(ServiceUnavailable):
    """Shed before reaching the backend: the model's in-flight and waiting bounds are full
    (``reason="queue_full"``) or the request's deadline cannot be met (``"deadline"``)."""

    def __init__(self, message: str, *, reason: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(max(1, int(self.retry_after + 0.999)))}


class UpstreamTimeout(GatewayError):
    status = HTTPStatus.GATEWAY_TIMEOUT


def from_wire(exc: WireError) -> BadRequest:
    """The 400 for a body or tensor that the wire contract refused (raise it ``from exc``)."""
    return InvalidTensor(exc.message) if exc.tensor is not None else BadRequest(exc.message)
