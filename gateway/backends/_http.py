"""HTTP/1.1 plumbing shared by the REST transports: one keep-alive pool.

A small client on asyncio protocols and ``httptools``' response parser (the parser uvicorn
uses) rather than aiohttp: the gateway only sends whole, small-headered requests to the
backends it is configured with and reads whole answers, and on uvloop aiohttp writes the
headers and the body in two syscalls (two TCP segments per request) and spends more Python
time per request than the rest of the REST path. One ``write`` per request here. What it
raises becomes the gateway's error by :mod:`gateway.backends.error_map`'s tables.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import cast
from urllib.parse import urlsplit

import httptools

from gateway.backends.error_map import Disconnected, from_transport


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request in flight at a time."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._parts: list[bytes] = []
        self._got_bytes = False
        self._headers_done = False
        self.reusable = False
        self.closed = False

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._got_bytes = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(f"unreadable HTTP response: {exc}")
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            if self._headers_done and exc is None and self._body_until_eof():
                waiter.set_result((self._parser.get_status_code(), b"".join(self._parts)))
            else:
                self._fail("server closed the connection" + (f": {exc}" if exc else ""))

    # -- httptools callbacks ---------------------------------------------------------------

    def on_headers_complete(self) -> None:
        self._headers_done = True

    def on_body(self, body: bytes) -> None:
        self._parts.append(body)

    def on_message_complete(self) -> None:
        waiter = self._waiter
        self.reusable = bool(self._parser.should_keep_alive()) and not self.closed
        if waiter is not None and not waiter.done():
            waiter.set_result((self._parser.get_status_code(), b"".join(self._parts)))

    # -- client side -----------------------------------------------------------------------

    def _body_until_eof(self) -> bool:
        # A response without Content-Length or chunking ends when the server closes.
        return not self._parser.should_keep_alive()

    def _fail(self, message: str) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(Disconnected(message, answered=self._got_bytes))

    def send(self, data: bytes) -> asyncio.Future[tuple[int, bytes]]:
        """Write one whole request; the future resolves with ``(status, body)``."""
        assert self._transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._parts = []
        self._got_bytes = False
        self._headers_done = False
        self.reusable = False
        self._transport.write(data)
        return self._waiter

    def close(self) -> None:
        self.reusable = False
        if self._transport is not None:
            self._transport.close()


class HttpClient:
    """A lazily connected pool of keep-alive HTTP/1.1 connections to one backend base URL."""

    def __init__(self, backend: str, base_url: str, pool_size: int = 64) -> None:
        self.backend = backend
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"backend {backend!r}: unsupported REST URL {base_url!r}")
        self._ssl = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._ssl else 80)
        self._prefix = parts.path.rstrip("/")
        self._host_header = parts.netloc.encode("latin-1")
        self._idle: deque[_Connection] = deque()
        self._pool_size = pool_size
        self._slots: asyncio.Semaphore | None = None
        self._closed = False

    async def _connect(self, timeout_s: float) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(min(timeout_s, 1.0)):
                _, protocol = await loop.create_connection(
                    _Connection, self._host, self._port, ssl=self._ssl or None
                )
        except OSError as exc:  # TimeoutError is one
            raise from_transport(exc, self.backend, "connect", connecting=True) from exc
        return protocol

    def _request_bytes(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str] | None
    ) -> bytes:
        lines = [
            f"{method} {self._prefix}{path} HTTP/1.1\r\n".encode("latin-1"),
            b"Host: " + self._host_header + b"\r\n",
        ]
        for key, value in (headers or {}).items():
            lines.append(f"{key}: {value}\r\n".encode("latin-1"))
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(b"Content-Length: %d\r\n" % len(body or b""))
        lines.append(b"\r\n")
        if body:
            lines.append(body)
        return b"".join(lines)

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
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._pool_size)
        data = self._request_bytes(method, path, body, headers)
        try:
            async with self._slots:
                # One timer on the answer's future instead of an asyncio.timeout() scope
                # per request (a tenth of this client's CPU per request).
                deadline = asyncio.get_running_loop().time() + timeout_s
                return await self._exchange(data, deadline)
        except (TimeoutError, Disconnected) as exc:
            raise from_transport(exc, self.backend, what) from exc

    async def _exchange(self, data: bytes, deadline: float) -> tuple[int, bytes]:
        while self._idle:
            conn = self._idle.pop()
            if conn.closed:
                continue
            try:
                return await self._send_on(conn, data, deadline)
            except Disconnected as exc:
                # A kept-alive connection the server had just closed: it never saw this
                # request, so send it again on a new connection (what HTTP clients do).
                if exc.answered:
                    raise
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise TimeoutError
        conn = await self._connect(remaining)
        return await self._send_on(conn, data, deadline)

    async def _send_on(self, conn: _Connection, data: bytes, deadline: float) -> tuple[int, bytes]:
        waiter = conn.send(data)
        timer = asyncio.get_running_loop().call_at(deadline, _expire, waiter)
        try:
            result = await waiter
        except BaseException:
            conn.close()
            raise
        finally:
            timer.cancel()
        if conn.reusable and not self._closed and len(self._idle) < self._pool_size:
            self._idle.append(conn)
        else:
            conn.close()
        return result

    async def aclose(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.pop().close()


def _expire(waiter: asyncio.Future[tuple[int, bytes]]) -> None:
    """The deadline passed before the answer: the request fails with ``TimeoutError``."""
    if not waiter.done():
        waiter.set_exception(TimeoutError())
