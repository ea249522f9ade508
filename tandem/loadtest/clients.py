"""Senders for the engine: one HTTP keep-alive POST or one gRPC unary call per request.

Who calls it: :mod:`tandem.loadtest.targets` builds a :class:`Client` per target. The HTTP
sender is the gateway's own keep-alive client (one ``write`` per request, an ``httptools``
parser; ``bench/http_clients.py`` measures it against aiohttp and httpx), so the generator
leaves as much of the shared cores as it can to the servers under test.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import grpc

from gateway.backends._http import HttpClient
from gateway.errors import BackendUnavailable, GatewayError, UpstreamTimeout


class SendError(Exception):
    """A request that got no HTTP status; ``label`` is its key in a point's ``errors``."""

    def __init__(self, label: str) -> None:
        super().__init__(label)
        self.label = label


class Client:
    """One target's sender and the connections it holds (``aclose`` releases them)."""

    def __init__(
        self, send: Callable[[], Awaitable[int]], close: Callable[[], Awaitable[None]]
    ) -> None:
        self.send = send
        self.aclose = close


def http_client(
    url: str, body: bytes, headers: dict[str, str], timeout_s: float, pool_size: int = 4096
) -> Client:
    """POST ``body`` to ``url``; the status is the result (200 counts as success)."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    client = HttpClient("loadtest", f"{parts.scheme}://{parts.netloc}", pool_size=pool_size)

    async def send() -> int:
        try:
            status, _ = await client.request(
                "POST", path, body=body, headers=headers, timeout_s=timeout_s, what="loadtest"
            )
        except UpstreamTimeout as exc:
            raise SendError("timeout") from exc
        except BackendUnavailable as exc:
            raise SendError("connection") from exc
        except GatewayError as exc:
            raise SendError(type(exc).__name__) from exc
        return status

    return Client(send, client.aclose)


def grpc_client(
    target: str,
    method: str,
    request: Any,
    response_type: Any,
    metadata: tuple[tuple[str, str], ...],
    timeout_s: float,
) -> Client:
    """One unary call of ``method`` (``/package.Service/Method``) on an insecure channel."""
    channel = grpc.aio.insecure_channel(target)
    call = channel.unary_unary(
        method,
        request_serializer=type(request).SerializeToString,
        response_deserializer=response_type.FromString,
    )
    payload = request

    async def send() -> int:
        try:
            await call(payload, timeout=timeout_s, metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise SendError("timeout") from exc
            raise SendError(f"grpc_{code.name}") from exc
        return 200

    async def close() -> None:
        await channel.close()

    return Client(send, close)
