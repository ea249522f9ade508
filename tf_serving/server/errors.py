"""The server's error tree; every error carries TF Serving's status code.

::

    ServingError                    (UNKNOWN -> 500; base, never raised directly)
    +-- InvalidArgument             (INVALID_ARGUMENT -> 400)
    |   +-- FailedPrecondition      (FAILED_PRECONDITION -> 400)
    +-- NotFound                    (NOT_FOUND -> 404)
    +-- Unavailable                 (UNAVAILABLE -> 503)
    +-- ResourceExhausted           (RESOURCE_EXHAUSTED -> 429)
    +-- Internal                    (INTERNAL -> 500)
    +-- Unimplemented               (UNIMPLEMENTED -> 501)
    +-- ConfigError                 (INVALID_ARGUMENT; at start-up the process exits 2)

REST turns an error into ``{"error": message}`` with ``http_status``; gRPC aborts with
``grpc_code``. The HTTP mapping follows TF Serving's ``http_rest_api_util`` table.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import ClassVar

import grpc


class ServingError(Exception):
    """Base of every error the server reports to a client."""

    http_status: ClassVar[HTTPStatus] = HTTPStatus.INTERNAL_SERVER_ERROR
    grpc_code: ClassVar[grpc.StatusCode] = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def code_name(self) -> str:
        """TF Serving's name of the code, e.g. ``INVALID_ARGUMENT`` (used in statuses)."""
        return str(self.grpc_code.name)


class InvalidArgument(ServingError):
    """The request is malformed or does not fit the signature."""

    http_status = HTTPStatus.BAD_REQUEST
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT


class FailedPrecondition(InvalidArgument):
    """The request is well formed but the model cannot answer it (e.g. wrong method)."""

    grpc_code = grpc.StatusCode.FAILED_PRECONDITION


class NotFound(ServingError):
    """Unknown model, version, label or servable."""

    http_status = HTTPStatus.NOT_FOUND
    grpc_code = grpc.StatusCode.NOT_FOUND


class Unavailable(ServingError):
    """Temporarily unable to serve, e.g. the batching queue is full."""

    http_status = HTTPStatus.SERVICE_UNAVAILABLE
    grpc_code = grpc.StatusCode.UNAVAILABLE


class ResourceExhausted(ServingError):
    """Out of a limited resource."""

    http_status = HTTPStatus.TOO_MANY_REQUESTS
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Internal(ServingError):
    """A real bug or runtime failure inside the server."""

    http_status = HTTPStatus.INTERNAL_SERVER_ERROR
    grpc_code = grpc.StatusCode.INTERNAL


class Unimplemented(ServingError):
    """A value TF Serving does not convert, e.g. JSON into a ``DT_HALF`` input."""

    http_status = HTTPStatus.NOT_IMPLEMENTED
    grpc_code = grpc.StatusCode.UNIMPLEMENTED


class ConfigError(ServingError):
    """A flag or config file is invalid; at start-up the process exits with code 2."""

    http_status = HTTPStatus.BAD_REQUEST
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT
