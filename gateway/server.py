"""uvicorn's httptools protocol, writing each small answer in one ``write`` instead of two.

uvicorn writes the status line and headers of an answer when the app sends
``http.response.start`` and the body when it sends ``http.response.body``: two ``send``
syscalls and two TCP segments per answer. :class:`OneWriteHttpToolsProtocol` gives the
protocol a transport that holds the header block back until the next write (the body) and
sends both as one, or sends it alone when the answer completes without a body write (``HEAD``),
before the transport closes, and never holds ``100 Continue``. Everything else is uvicorn's.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_STATUS_LINE = b"HTTP/1.1 "
_CONTINUE = b"HTTP/1.1 100 "
_END_OF_HEADERS = b"\r\n\r\n"


class _OneWriteTransport:
    """A transport proxy that holds a header block back until the next write."""

    __slots__ = ("_held", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
        elif (
            data.startswith(_STATUS_LINE)
            and data.endswith(_END_OF_HEADERS)
            and not data.startswith(_CONTINUE)
        ):
            self._held = data
        else:
            self._transport.write(data)

    def flush(self) -> None:
        """Send a held header block now."""
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held)

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        # Everything else (pause/resume reading, extra info, abort...) is the transport's.
        return getattr(self._transport, name)


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's ``HttpToolsProtocol`` over :class:`_OneWriteTransport` (pass as
    ``uvicorn.run(..., http=OneWriteHttpToolsProtocol)``)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        proxy: Any = _OneWriteTransport(transport)  # type: ignore[arg-type]
        super().connection_made(proxy)

    def on_response_complete(self) -> None:
        flush = getattr(self.transport, "flush", None)
        if flush is not None:
            flush()
        super().on_response_complete()
