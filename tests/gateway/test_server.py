"""gateway.server: uvicorn's protocol writing each answer once, served for real on loopback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvicorn

from gateway.server import OneWriteHttpToolsProtocol, _OneWriteTransport


class _Recorder:
    """Records what reaches the socket (the process boundary)."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


def test_header_block_and_body_leave_in_one_write():
    sink = _Recorder()
    proxy = _OneWriteTransport(sink)  # type: ignore[arg-type]
    proxy.write(HEAD)
    assert sink.writes == []
    proxy.write(b"{}")
    assert sink.writes == [HEAD + b"{}"]


@pytest.mark.parametrize(
    "data",
    [b"HTTP/1.1 100 Continue\r\n\r\n", b"a body chunk", b"HTTP/1.1 200 OK\r\npartial"],
)
def test_anything_but_a_header_block_is_written_at_once(data):
    sink = _Recorder()
    _OneWriteTransport(sink).write(data)  # type: ignore[arg-type]
    assert sink.writes == [data]


def test_held_block_is_sent_on_flush_and_before_close():
    sink = _Recorder()
    proxy = _OneWriteTransport(sink)  # type: ignore[arg-type]
    proxy.write(HEAD)
    proxy.flush()
    assert sink.writes == [HEAD]
    proxy.write(HEAD)
    proxy.close()
    assert sink.writes == [HEAD, HEAD]
    assert sink.closed
    assert proxy.get_extra_info("peername") == "info:peername"  # the rest is the transport's


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    answer = b"echo:" + body
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(answer)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": answer})


@asynccontextmanager
async def _serve() -> AsyncIterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        _app, host="127.0.0.1", port=port, http=OneWriteHttpToolsProtocol, log_config=None
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):  # 5 s at most: only catches a server that never starts
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started
    try:
        yield port
    finally:
        server.should_exit = True
        await task


async def _exchange(port: int, *requests: bytes) -> list[bytes]:
    """Send each request on one keep-alive connection and read its whole answer (a 5 s bound
    per answer only catches a hang)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answers = []
    try:
        for request in requests:
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if request.startswith(b"HEAD"):
                length = 0
            answers.append(head + await asyncio.wait_for(reader.readexactly(length), 5))
    finally:
        writer.close()
    return answers


async def test_keep_alive_answers_and_head_over_a_real_server():
    async with _serve() as port:
        post = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
        head = b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"
        one, two, three = await _exchange(port, post, head, post)
        assert one.startswith(b"HTTP/1.1 200")
        assert one.endswith(b"echo:abc")
        assert two.startswith(b"HTTP/1.1 200")
        assert two.endswith(b"\r\n\r\n")
        assert three == one


async def test_expect_continue_is_not_held_back():
    async with _serve() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n"
            )
            interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert interim.startswith(b"HTTP/1.1 100")
            writer.write(b"hi")
            final = await asyncio.wait_for(reader.readuntil(b"echo:hi"), 5)
            assert final.startswith(b"HTTP/1.1 200")
        finally:
            writer.close()
