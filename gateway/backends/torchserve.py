"""TorchServe 0.12 adapter: gRPC ``InferenceAPIsService/Predictions``, REST fallback.

Requests go to the project's generic handler as OIP v2 (binary tensor extension for numeric
tensors unless disabled): over gRPC the body is the ``"body"`` input entry with the header
length in ``"inference-header-content-length"``; over REST it is the request body with the
``Inference-Header-Content-Length`` header. A client's own v2 binary request is forwarded as
it came (the dataplane validated it from its header); otherwise the inputs are encoded once.
The handler answers in the binary extension (raw little-endian tensors) when asked, which
the gateway always does unless ``torchserve_binary`` is off. Bodies
smaller than ``rest_below_bytes`` take REST when the server has a REST URL (the same bytes,
for less gateway CPU than a grpc.aio call).

Token authorization: TorchServe checks ``authorization: Bearer <inference key>`` (gRPC
metadata or HTTP header). The key lives in TorchServe's key file and changes when TorchServe
restarts or rotates it, so the file is re-read when it changes and after a rejection.
Only the inference API is ever called; the management API is not reachable from here.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import orjson

from gateway._pb import torchserve_modules
from gateway.backends import _grpc
from gateway.backends._http import HttpClient
from gateway.backends.base import (
    InferCall,
    InferResult,
    ModelMetadata,
    route_metadata,
)
from gateway.backends.error_map import from_answer, from_grpc, from_http
from gateway.errors import (
    ServiceUnavailable,
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
)
from gateway.route_table import BackendRoute, ModelRoute
from wire import WireError
from wire.arrays import loads
from wire.dtypes import NAME_TO_NUMPY
from wire.v2 import decode_infer_response, encode_infer_request, split_response

_PLATFORM = "pytorch_torchserve"


class TokenSource:
    """TorchServe's inference key, read from its key file and refreshed when the file changes.

    The file is looked at (``stat``) at most every ``recheck_s`` seconds, not on every
    request; a key TorchServe refuses is re-read at once (``get(force=True)``), so a rotation
    costs one retried call, not an outage."""

    def __init__(
        self,
        path: Path | None,
        static: str | None = None,
        *,
        recheck_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._path = path
        self._token: str | None = static
        self._stamp: tuple[int, int] | None = None
        self._recheck_s = recheck_s
        self._clock = clock
        self._next_check = -math.inf

    def get(self, force: bool = False) -> str | None:
        """The current key (``None`` when TorchServe runs without token auth)."""
        if self._path is None:
            return self._token
        now = self._clock()
        if not force and now < self._next_check:
            return self._token
        self._next_check = now + self._recheck_s
        try:
            stat = os.stat(self._path)
        except OSError:
            return self._token
        stamp = (stat.st_mtime_ns, stat.st_size)
        if force or stamp != self._stamp:
            try:
                data = orjson.loads(self._path.read_bytes())
                self._token = str(data["inference"]["key"])
                self._stamp = stamp
            except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
                pass
        return self._token


class TorchServeBackend:
    """Adapter for one TorchServe server."""

    def __init__(
        self,
        name: str,
        config: BackendRoute,
        *,
        prefer_grpc: bool = True,
        rest_below_bytes: int = 0,
        binary: bool = True,
        token_file: Path | None = None,
    ) -> None:
        self.name = name
        self._binary = binary
        self._tokens = TokenSource(token_file or config.token_file)
        self._use_grpc = bool(prefer_grpc and config.grpc_target)
        # Small bodies go over REST when there is one (see GatewaySettings): same bytes.
        self._rest_below = rest_below_bytes if config.rest_url else 0
        self._target = config.grpc_target
        self._channel: Any = None
        self._stub_obj: Any = None
        if self._use_grpc:
            self._pb2, self._pb2_grpc = torchserve_modules()
        elif not config.rest_url:
            raise ValueError(f"backend {name!r} has neither grpc_target nor rest_url")
        self._http = HttpClient(name, config.rest_url) if config.rest_url else None

    @property
    def _stub(self) -> Any:
        # The channel is opened on first use, inside the serving event loop.
        if self._stub_obj is None:
            assert self._target is not None
            self._channel = _grpc.open_channel(self._target)
            self._stub_obj = self._pb2_grpc.InferenceAPIsServiceStub(self._channel)
        return self._stub_obj

    async def infer(self, call: InferCall) -> InferResult:
        header_length: int | None
        if call.v2_body is not None and self._binary:
            body, header_length = call.v2_body  # the client's binary request, as it came
        else:
            body, header_length = encode_infer_request(
                call.inputs,
                output_names=call.output_names,
                binary=self._binary,
                binary_output=self._binary,
                request_id=call.request_id,
            )
        raw = await self._predict(
            call.route,
            None if call.latest else call.version,
            body,
            header_length,
            call.request_id,
            call.timeout_s,
            call.trace,
        )
        try:
            header, tail = split_response(raw) if self._binary else (loads(raw), None)
        except WireError as exc:
            raise UpstreamError(f"{self.name}: prediction is not JSON") from exc
        refused = from_answer(header, self.name)
        if refused is not None:
            raise refused
        try:
            response = decode_infer_response(header, tail)
        except WireError as exc:
            raise UpstreamError(f"{self.name}: unreadable prediction: {exc.message}") from exc
        try:
            version = response.model_version
            answered = int(version) if version is not None else call.version
        except ValueError:
            answered = call.version
        return InferResult(response.outputs, answered)

    async def _predict(
        self,
        route: ModelRoute,
        version: int | None,
        body: bytes,
        header_length: int | None,
        request_id: str,
        timeout_s: float,
        trace: dict[str, str] | None = None,
    ) -> bytes:
        for attempt in range(2):
            token = self._tokens.get(force=attempt > 0)
            try:
                if self._use_grpc and len(body) >= self._rest_below:
                    return await self._predict_grpc(
                        route, version, body, header_length, request_id, timeout_s, token, trace
                    )
                return await self._predict_rest(
                    route, version, body, header_length, request_id, timeout_s, token, trace
                )
            except _Rejected:
                if attempt:
                    break
        raise UpstreamError(f"{self.name}: TorchServe refused the gateway's inference token")

    async def _predict_grpc(
        self,
        route: ModelRoute,
        version: int | None,
        body: bytes,
        header_length: int | None,
        request_id: str,
        timeout_s: float,
        token: str | None,
        trace: dict[str, str] | None = None,
    ) -> bytes:
        inputs = {"body": body}
        if header_length is not None:
            inputs["inference-header-content-length"] = str(header_length).encode()
        request = self._pb2.PredictionsRequest(
            # An empty version: TorchServe's default version answers.
            model_name=route.upstream_name,
            model_version="" if version is None else str(version),
            input=inputs,
        )
        metadata: list[tuple[str, str]] = [("x-request-id", request_id), *(trace or {}).items()]
        if token:
            metadata.append(("authorization", f"Bearer {token}"))
        try:
            response = await self._stub.Predictions(
                request, timeout=timeout_s, metadata=tuple(metadata)
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                raise _Rejected from exc
            raise from_grpc(exc, self.name, "predictions") from exc
        prediction: bytes = response.prediction
        return prediction

    async def _predict_rest(
        self,
        route: ModelRoute,
        version: int | None,
        body: bytes,
        header_length: int | None,
        request_id: str,
        timeout_s: float,
        token: str | None,
        trace: dict[str, str] | None = None,
    ) -> bytes:
        assert self._http is not None
        headers = {"X-Request-ID": request_id, **(trace or {})}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if header_length is None:
            headers["Content-Type"] = "application/json"
        else:
            headers["Content-Type"] = "application/octet-stream"
            headers["Inference-Header-Content-Length"] = str(header_length)
        status, raw = await self._http.request(
            "POST",
            f"/predictions/{route.upstream_name}" + ("" if version is None else f"/{version}"),
            body=body,
            headers=headers,
            timeout_s=timeout_s,
            what="predictions",
        )
        if status in (401, 403):
            raise _Rejected
        if status != 200:
            raise from_http(status, raw, self.name, "predictions")
        return raw

    async def metadata(self, route: ModelRoute, version: int, timeout_s: float) -> ModelMetadata:
        # TorchServe's inference API has no metadata call; the route file is the source.
        return route_metadata(route, _PLATFORM)

    async def ready(self, route: ModelRoute, version: int, timeout_s: float) -> bool:
        """Probe with a one-row zero batch: readiness means the model answers."""
        inputs = {
            spec.name: _zeros(spec.dtype, tuple(1 if d < 0 else d for d in spec.shape))
            for spec in route.inputs
        }
        body, header_length = encode_infer_request(inputs, binary=self._binary)
        try:
            await self._predict(route, version, body, header_length, "readiness-probe", timeout_s)
        except UpstreamRejected:
            return True  # it answered; the probe input was simply not to its liking
        except (ServiceUnavailable, UpstreamTimeout, UpstreamError):
            return False
        return True

    async def aclose(self) -> None:
        if self._channel is not None:
            await self._channel.close()
        if self._http is not None:
            await self._http.aclose()


class _Rejected(Exception):
    """TorchServe refused the token (retried once with a freshly read key file)."""


def _zeros(dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    if dtype == "string":
        out = np.empty(math.prod(shape), dtype=object)
        out[:] = [b""] * out.size
        return out.reshape(shape)
    return np.zeros(shape, dtype=NAME_TO_NUMPY[dtype])
