"""The REST transports' HTTP/1.1 client against a real local socket server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from gateway.backends._http import HttpClient
from gateway.errors import BackendUnavailable, UpstreamTimeout

Handler = Callable[[bytes], bytes | None]  # request head + body → raw answer (None: hang up)


async def _read_request(reader: asyncio.StreamReader) -> bytes | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head + await reader.readexactly(length)


@asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[tuple[str, list[int]]]:
    """A socket server in the test's own event loop: yields its URL and connection count."""
    connections: list[int] = []
    writers: list[asyncio.StreamWriter] = []
    tasks: list[asyncio.Task[None]] = []

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        writers.append(writer)
        task = asyncio.current_task()
        assert task is not None
        tasks.append(task)
        while (request := await _read_request(reader)) is not None:
            answer = handler(request)
            if answer is None:
                break
            writer.write(answer)
            await writer.drain()
            if b"Connection: close" in answer:
                break
        writer.close()

    srv = await asyncio.start_server(session, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}", connections
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for writer in writers:
            writer.close()
        srv.close()
        await srv.wait_closed()


def _ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def test_keep_alive_reuses_one_connection_and_sends_headers():
    seen: list[bytes] = []

    def handler(request: bytes) -> bytes:
        seen.append(request)
        return _ok(b'{"ok":1}')

    async with serve(handler) as (url, connections):
        client = HttpClient("b", url)
        for _ in range(3):
            status, body = await client.request(
                "POST", "/x", body=b"abc", headers={"X-Request-ID": "r1"}, timeout_s=2, what="t"
            )
            assert (status, body) == (200, b'{"ok":1}')
        await client.aclose()
    assert len(connections) == 1
    assert seen[0].startswith(b"POST /x HTTP/1.1\r\n")
    assert b"X-Request-ID: r1\r\n" in seen[0]
    assert b"Content-Length: 3\r\n" in seen[0]
    assert seen[0].endswith(b"\r\n\r\nabc")


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        b"HTTP/1.1 503 Busy\r\nConnection: close\r\n\r\nabcde",
    ],
    ids=["chunked", "until-close"],
)
async def test_chunked_and_close_delimited_bodies(answer):
    async with serve(lambda _: answer) as (url, _):
        client = HttpClient("b", url)
        assert await client.request("GET", "/", timeout_s=2, what="t") == (503, b"abcde")
        await client.aclose()


async def test_idle_connection_closed_by_server_is_replaced():
    writers_closed: list[int] = []
    async with serve(lambda _: _ok(b"x")) as (url, connections):
        client = HttpClient("b", url)
        assert await client.request("GET", "/", timeout_s=2, what="t") == (200, b"x")
        # the kept-alive connection goes away while idle (as a server's idle timeout does)
        for conn in list(client._idle):
            conn._transport.abort()  # type: ignore[union-attr]
            writers_closed.append(1)
        await asyncio.sleep(0.05)
        assert await client.request("GET", "/", timeout_s=2, what="t") == (200, b"x")
        await client.aclose()
    assert writers_closed == [1]
    assert len(connections) == 2


async def test_hang_up_without_answer_is_unavailable_sent():
    async with serve(lambda _: None) as (url, _):
        client = HttpClient("b", url)
        with pytest.raises(BackendUnavailable) as info:
            await client.request("POST", "/", body=b"{}", timeout_s=2, what="predict")
    assert info.value.sent


async def test_refused_is_unavailable_not_sent():
    client = HttpClient("b", "http://127.0.0.1:1")
    with pytest.raises(BackendUnavailable) as info:
        await client.request("GET", "/", timeout_s=1, what="t")
    assert not info.value.sent


async def test_slow_answer_times_out():
    async with serve(lambda _: b"") as (url, _):  # reads the request, never answers
        client = HttpClient("b", url)
        with pytest.raises(UpstreamTimeout):
            await client.request("GET", "/", timeout_s=0.2, what="t")
        await client.aclose()


async def test_connection_that_timed_out_is_not_reused():
    """A late answer must never be read as the next request's answer."""
    answers = iter([b"", _ok(b"second")])  # the first request is never answered
    async with serve(lambda _: next(answers)) as (url, connections):
        client = HttpClient("b", url)
        with pytest.raises(UpstreamTimeout):
            await client.request("GET", "/", timeout_s=0.2, what="t")
        assert await client.request("GET", "/", timeout_s=2, what="t") == (200, b"second")
        assert len(connections) == 2
        await client.aclose()


def test_keep_alive_on_uvloop():
    """The gateway serves on uvloop, whose transports are not asyncio's classes."""
    uvloop = pytest.importorskip("uvloop")
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(test_keep_alive_reuses_one_connection_and_sends_headers())
        runner.run(test_idle_connection_closed_by_server_is_replaced())
        runner.run(
            test_chunked_and_close_delimited_bodies(
                b"HTTP/1.1 503 x\r\nConnection: close\r\n\r\nabcde"
            )
        )
