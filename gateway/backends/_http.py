"""aiohttp plumbing shared by the REST transports: one pooled session, error translation."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from gateway.errors import (
    BackendUnavailable,
    GatewayError,
    ModelNotReady,
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
)


class HttpClient:
    """A lazily created, pooled aiohttp session towards one backend base URL."""

    def __init__(self, backend: str, base_url: str, pool_size: int = 64) -> None:
        self.backend = backend
        self.base_url = base_url.rstrip("/")
        self._pool_size = pool_size
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size, keepalive_timeout=30)
            self._session = aiohttp.ClientSession(
                connector=connector, json_serialize=lambda o: orjson.dumps(o).decode()
            )
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        *,
        timeout_s: float,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        what: str,
    ) -> tuple[int, bytes]:
        """Send one request; connection/timeouts are translated, the status is returned."""
        session = self._get_session()
        try:
            async with session.request(
                method,
                self.base_url + path,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout_s, connect=min(timeout_s, 1.0)),
            ) as response:
                return response.status, await response.read()
        except aiohttp.ClientConnectorError as exc:
            raise BackendUnavailable(f"{self.backend} is unavailable: {exc}", sent=False) from exc
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise UpstreamTimeout(f"{self.backend}: {what} timed out") from exc
        except aiohttp.ClientError as exc:
            raise BackendUnavailable(f"{self.backend}: {what}: {exc}", sent=True) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def error_for_status(status: int, body: bytes, backend: str, what: str) -> GatewayError:
    """Map a backend's non-2xx HTTP answer to the gateway's error."""
    message = _error_message(body)
    text = f"{backend}: {what}: {message}" if message else f"{backend}: {what}: HTTP {status}"
    if status in (400, 422):
        return UpstreamRejected(text)
    if status == 404:
        return ModelNotReady(text)
    if status in (408, 504):
        return UpstreamTimeout(text)
    if status in (502, 503):
        return BackendUnavailable(text, sent=True)
    return UpstreamError(text)


def _error_message(body: bytes) -> str:
    try:
        parsed: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:200].decode(errors="replace").strip()
    if isinstance(parsed, dict):
        for key in ("error", "message", "detail"):
            if key in parsed:
                return str(parsed[key])
    return str(parsed)[:200]
