"""Every foreign error a backend call can raise maps to the right gateway error.

The inputs are the foreign errors as the servers produce them (TorchServe 0.12's gRPC details
name the Java exception; TF Serving's REST body is ``{"error": ...}``); each table test also
proves that every row of its table is reached by some case, so a row that nothing can match
(shadowed by a broader row above it) fails here.
"""

from __future__ import annotations

import socket
from http import HTTPStatus

import grpc
import pytest

from gateway.backends import error_map
from gateway.backends.error_map import Disconnected
from gateway.errors import (
    BackendUnavailable,
    GatewayError,
    ModelNotReady,
    ServiceUnavailable,
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
)

C = grpc.StatusCode
REFUSED = (
    "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:9: "
    "Failed to connect to remote host: Connection refused"
)

# (code, details, error class, sent (BackendUnavailable only), message)
GRPC_CASES: list[tuple[grpc.StatusCode, str, type[GatewayError], bool, str]] = [
    (
        C.INTERNAL,
        "Parameter model_name is required.\nBadRequestException.()",
        UpstreamRejected,
        True,
        "b: predict: Parameter model_name is required.\nBadRequestException.()",
    ),
    (
        C.INTERNAL,
        "Model not found: m\norg.pytorch.serve.archive.model.ModelNotFoundException",
        ModelNotReady,
        True,
        "b: predict: Model not found: m\norg.pytorch.serve.archive.model.ModelNotFoundException",
    ),
    (
        C.INTERNAL,
        "Model version not found: 3\norg.pytorch.serve.archive.model.ModelVersionNotFoundException",
        ModelNotReady,
        True,
        "b: predict: Model version not found: 3\n"
        "org.pytorch.serve.archive.model.ModelVersionNotFoundException",
    ),
    (
        C.INTERNAL,
        'Model "m" has no worker to serve inference request.\nInternalServerException.()',
        ServiceUnavailable,
        True,
        'b: predict: Model "m" has no worker to serve inference request.\n'
        "InternalServerException.()",
    ),
    # A worker failure that TorchServe forwards with its HTTP status mapped: no marker row.
    (
        C.INTERNAL,
        "Worker died.\norg.pytorch.serve.http.InternalServerException",
        UpstreamError,
        True,
        "b: predict: Worker died.\norg.pytorch.serve.http.InternalServerException",
    ),
    # No guessing from the text: an INTERNAL that mentions 400 or an error body is a 502.
    (C.INTERNAL, '{"error": "expected 3 inputs"} 400', UpstreamError, True, None),
    (C.INTERNAL, "", UpstreamError, True, "b: predict failed"),
    (C.UNKNOWN, "boom", UpstreamError, True, "b: predict: boom"),
    (C.CANCELLED, "Cancelled", UpstreamError, True, "b: predict: Cancelled"),
    (C.DEADLINE_EXCEEDED, "Deadline Exceeded", UpstreamTimeout, True, "b: predict timed out"),
    (C.UNAVAILABLE, REFUSED, BackendUnavailable, False, f"b is unavailable: {REFUSED}"),
    (C.UNAVAILABLE, "Connection refused", BackendUnavailable, False, None),
    (C.UNAVAILABLE, "ipv4:127.0.0.1:9: connect failed", BackendUnavailable, False, None),
    (C.UNAVAILABLE, "no connection available", BackendUnavailable, False, None),
    (C.UNAVAILABLE, "DNS resolution failed for nohost:1", BackendUnavailable, False, None),
    (C.UNAVAILABLE, "name resolution failed", BackendUnavailable, False, None),
    (C.UNAVAILABLE, "Socket closed", BackendUnavailable, True, "b is unavailable: Socket closed"),
    # TorchServe's handler crashed ("Prediction failed", HTTP 503 -> UNAVAILABLE).
    (
        C.UNAVAILABLE,
        "Prediction failed\norg.pytorch.serve.http.InternalServerException",
        BackendUnavailable,
        True,
        None,
    ),
    (
        C.NOT_FOUND,
        "Servable not found for request: Specific(m, 3)",
        ModelNotReady,
        True,
        "b: predict: Servable not found for request: Specific(m, 3)",
    ),
    (C.INVALID_ARGUMENT, "Expects arg[0] to be float", UpstreamRejected, True, None),
    (C.FAILED_PRECONDITION, "no classify method", UpstreamRejected, True, None),
    (C.OUT_OF_RANGE, "index out of range", UpstreamRejected, True, None),
    (C.RESOURCE_EXHAUSTED, "queue full", ServiceUnavailable, True, "b: predict: queue full"),
    (C.UNAUTHENTICATED, "Token Authorization failed", UpstreamError, True, None),
]


def _rpc_error(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=details)


def _check(error: GatewayError, cls: type[GatewayError], sent: bool, message: str | None) -> None:
    assert type(error) is cls
    if isinstance(error, BackendUnavailable):
        assert error.sent is sent
    if message is not None:
        assert error.message == message


@pytest.mark.parametrize(("code", "details", "cls", "sent", "message"), GRPC_CASES)
def test_grpc_status_maps_to_gateway_error(
    code: grpc.StatusCode,
    details: str,
    cls: type[GatewayError],
    sent: bool,
    message: str | None,
) -> None:
    error = error_map.from_grpc(_rpc_error(code, details), "b", "predict")
    _check(error, cls, sent, message)


def test_every_grpc_row_is_reached() -> None:
    reached = {error_map.grpc_row(code, details) for code, details, *_ in GRPC_CASES}
    assert reached - {None} == set(error_map.GRPC_ROWS)


TS_404 = b'{"code": 404, "type": "ModelNotFoundException", "message": "Model not found: m"}'
TS_503 = (
    b'{"code": 503, "type": "ServiceUnavailableException", '
    b'"message": "Model \\"m\\" has no worker to serve inference request."}'
)

# (status, body, error class, message)
HTTP_CASES: list[tuple[int, bytes, type[GatewayError], str]] = [
    (
        400,
        b'{"error": "JSON Parse error: Invalid value. at offset: 0"}',
        UpstreamRejected,
        "b: predict: JSON Parse error: Invalid value. at offset: 0",
    ),
    (422, b'{"detail": "bad shape"}', UpstreamRejected, "b: predict: bad shape"),
    (404, TS_404, ModelNotReady, "b: predict: Model not found: m"),
    (404, b'{"error": "Servable not found"}', ModelNotReady, "b: predict: Servable not found"),
    (408, b"", UpstreamTimeout, "b: predict: HTTP 408"),
    (504, b"gateway timeout", UpstreamTimeout, "b: predict: gateway timeout"),
    (502, b"<html>bad gateway</html>", BackendUnavailable, "b: predict: <html>bad gateway</html>"),
    (
        503,
        TS_503,
        BackendUnavailable,
        'b: predict: Model "m" has no worker to serve inference request.',
    ),
    (500, b'{"error": "Internal: oops"}', UpstreamError, "b: predict: Internal: oops"),
    (
        507,
        b'{"code": 507, "type": "InternalServerException", "message": "Out of resources"}',
        UpstreamError,
        "b: predict: Out of resources",
    ),
    (501, b'["not", "an", "object"]', UpstreamError, "b: predict: ['not', 'an', 'object']"),
    (429, b'{"error": "queue full"}', ServiceUnavailable, "b: predict: queue full"),
    (409, b"", UpstreamError, "b: predict: HTTP 409"),
]


@pytest.mark.parametrize(("status", "body", "cls", "message"), HTTP_CASES)
def test_http_status_maps_to_gateway_error(
    status: int, body: bytes, cls: type[GatewayError], message: str
) -> None:
    error = error_map.from_http(status, body, "b", "predict")
    _check(error, cls, True, message)
    assert error.status in (
        HTTPStatus.BAD_REQUEST,
        HTTPStatus.BAD_GATEWAY,
        HTTPStatus.SERVICE_UNAVAILABLE,
        HTTPStatus.GATEWAY_TIMEOUT,
    )


def test_every_http_row_is_reached() -> None:
    reached = {error_map.http_row(status) for status, *_ in HTTP_CASES}
    assert reached - {None} == set(error_map.HTTP_ROWS)


# (raised, connecting, error class, sent, message)
TRANSPORT_CASES: list[tuple[BaseException, bool, type[GatewayError], bool, str]] = [
    (TimeoutError(), True, UpstreamTimeout, True, "b: connect timed out"),
    (
        ConnectionRefusedError(111, "Connect call failed"),
        True,
        BackendUnavailable,
        False,
        "b is unavailable: [Errno 111] Connect call failed",
    ),
    (
        socket.gaierror(-2, "Name or service not known"),
        True,
        BackendUnavailable,
        False,
        "b is unavailable: [Errno -2] Name or service not known",
    ),
    (TimeoutError(), False, UpstreamTimeout, True, "b: predict timed out"),
    (
        Disconnected("server closed the connection", answered=False),
        False,
        BackendUnavailable,
        True,
        "b: predict: server closed the connection",
    ),
    (
        Disconnected("unreadable HTTP response: Invalid constant string", answered=True),
        False,
        BackendUnavailable,
        True,
        "b: predict: unreadable HTTP response: Invalid constant string",
    ),
    # Not a transport failure the exchange knows: a 502, never a retry.
    (
        ConnectionResetError(104, "reset"),
        False,
        UpstreamError,
        True,
        "b: predict: [Errno 104] reset",
    ),
]


@pytest.mark.parametrize(("raised", "connecting", "cls", "sent", "message"), TRANSPORT_CASES)
def test_transport_error_maps_to_gateway_error(
    raised: BaseException,
    connecting: bool,
    cls: type[GatewayError],
    sent: bool,
    message: str,
) -> None:
    error = error_map.from_transport(raised, "b", "predict", connecting=connecting)
    _check(error, cls, sent, message)


def test_every_transport_row_is_reached() -> None:
    reached = {
        error_map.transport_row(raised, connecting=connecting)
        for raised, connecting, *_ in TRANSPORT_CASES
    }
    assert reached - {None} == {*error_map.CONNECT_ROWS, *error_map.EXCHANGE_ROWS}


@pytest.mark.parametrize(
    ("header", "refused"),
    [
        ({"error": "input 'x': expected FP32, got INT64"}, True),
        ({"outputs": [], "model_name": "m"}, False),
        ({"error": "partial", "outputs": []}, False),
        ([{"error": "a list is not the handler's error body"}], False),
    ],
)
def test_torchserve_handler_error_body_is_a_rejection(header: object, refused: bool) -> None:
    error = error_map.from_answer(header, "b")
    if refused:
        assert isinstance(error, UpstreamRejected)
        assert error.message == "b: input 'x': expected FP32, got INT64"
    else:
        assert error is None
