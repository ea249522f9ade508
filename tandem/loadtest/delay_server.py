"""A trivial HTTP/1.1 server with a known, controlled delay: the load generator's yardstick.

``python -m tandem.loadtest.delay_server --port P [--delay-ms D] [--capacity C]
[--ramp-ms-per-s R] [--status S]`` answers every request (keep-alive) with ``S`` and a tiny
JSON body after ``D`` ms (+ ``R`` ms for each second since start). With ``--capacity C`` at
most ``C`` requests are served at a time (the others queue), so it saturates at
``C / D`` requests per second. With no delay it is as cheap as a Python server gets: what
``tandem loadtest calibrate`` runs against to measure the generator's own ceiling.

Who runs it: the tests of :mod:`tandem.loadtest.engine` and the calibration. Loopback only.
Prints ``ready <port>`` on stdout once listening.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time

_BODY = b'{"ok":true}'


class _Handler(asyncio.Protocol):
    def __init__(self, server: _Server) -> None:
        self.server = server
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.queue: asyncio.Queue[None] = asyncio.Queue()
        self.worker: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.worker = asyncio.get_running_loop().create_task(self._answer())

    def connection_lost(self, exc: Exception | None) -> None:
        if self.worker is not None:
            self.worker.cancel()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            length = 0
            at = head.find(b"content-length:")
            if at >= 0:
                length = int(head[at + 15 :].split(b"\r\n", 1)[0])
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            self.queue.put_nowait(None)

    async def _answer(self) -> None:
        # One answer at a time per connection, in order (HTTP/1.1 without pipelining games).
        while True:
            await self.queue.get()
            await self.server.serve()
            if self.transport is not None and not self.transport.is_closing():
                self.transport.write(self.server.response)


class _Server:
    def __init__(self, args: argparse.Namespace) -> None:
        self.delay_s = args.delay_ms / 1000
        self.ramp = args.ramp_ms_per_s / 1000
        self.slots = asyncio.Semaphore(args.capacity) if args.capacity > 0 else None
        self.started = time.monotonic()
        reason = {200: "OK", 503: "Service Unavailable"}.get(args.status, "Status")
        self.response = (
            f"HTTP/1.1 {args.status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(_BODY)}\r\n\r\n"
        ).encode() + _BODY

    async def serve(self) -> None:
        delay = self.delay_s + self.ramp * (time.monotonic() - self.started)
        if self.slots is None:
            if delay > 0:
                await asyncio.sleep(delay)
            return
        async with self.slots:
            if delay > 0:
                await asyncio.sleep(delay)


async def _main(args: argparse.Namespace) -> None:
    server = _Server(args)
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(lambda: _Handler(server), "127.0.0.1", args.port)
    port = listener.sockets[0].getsockname()[1]
    print(f"ready {port}", flush=True)
    async with listener:
        await asyncio.sleep(args.lifetime_s)  # bounded: it stops by itself


def main() -> None:
    """Console entry point (``python -m tandem.loadtest.delay_server``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--ramp-ms-per-s", type=float, default=0.0)
    parser.add_argument("--capacity", type=int, default=0, help="0: unlimited")
    parser.add_argument("--status", type=int, default=200)
    parser.add_argument("--lifetime-s", type=float, default=600.0)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        runner = asyncio.run
    else:
        runner = uvloop.run
    with contextlib.suppress(KeyboardInterrupt):
        runner(_main(args))


if __name__ == "__main__":
    main()
