"""The gateway's upstream HTTP client vs aiohttp vs httpx: client CPU per request, one run.

``python -m bench.http_clients [--requests 20000] [--seconds 4] [--concurrency 16] [--rounds 3]``

Each client POSTs the same body over keep-alive connections to the same local zero-delay
server (its own process, so its CPU is not counted) on uvloop, as the gateway does. The
figure is this process' CPU time (user + system) per request; the clients take turns, round
after round, and the median of the rounds is kept, so a noisy neighbour on the shared cores
hits them all alike. Two bodies: a digits v1 request (~0.5 kB) and a 1x224x224x3 fp32
binary tensor (602 kB). The verdict: keep the hand-written client only if it needs at least
20% less CPU per request than the better library.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager

import aiohttp
import httpx
import numpy as np
import orjson

from gateway.backends._http import HttpClient
from tandem.loadtest.runner import run_on_uvloop

Post = Callable[[], Awaitable[int]]
Factory = Callable[[str, bytes, int], AbstractAsyncContextManager[Post]]
KEEP_IF_WINS_BY = 0.20


class _Own:
    def __init__(self, url: str, body: bytes, pool: int) -> None:
        self.client = HttpClient("bench", url, pool_size=pool)
        self.body = body
        self.headers = {"Content-Type": "application/json"}

    async def __aenter__(self) -> Post:
        async def post() -> int:
            status, _ = await self.client.request(
                "POST", "/", body=self.body, headers=self.headers, timeout_s=10, what="bench"
            )
            return status

        return post

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()


class _Aiohttp:
    def __init__(self, url: str, body: bytes, pool: int) -> None:
        self.url, self.body, self.pool = url + "/", body, pool

    async def __aenter__(self) -> Post:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.pool),
            timeout=aiohttp.ClientTimeout(total=10),
            headers={"Content-Type": "application/json"},
        )

        async def post() -> int:
            async with self.session.post(self.url, data=self.body) as response:
                await response.read()
                return response.status

        return post

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()


class _Httpx:
    def __init__(self, url: str, body: bytes, pool: int) -> None:
        self.url, self.body, self.pool = url + "/", body, pool

    async def __aenter__(self) -> Post:
        self.client = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=self.pool, max_keepalive_connections=self.pool),
            timeout=10,
            headers={"Content-Type": "application/json"},
        )

        async def post() -> int:
            response = await self.client.post(self.url, content=self.body)
            return response.status_code

        return post

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()


CLIENTS: dict[str, Factory] = {
    "hand-written (gateway/backends/_http.py)": _Own,
    f"aiohttp {aiohttp.__version__}": _Aiohttp,
    f"httpx {httpx.__version__}": _Httpx,
}


async def one_round(
    factory: Factory, url: str, body: bytes, requests: int, concurrency: int, seconds: float
) -> tuple[float, float]:
    """(CPU us per request, requests per second) over ``requests`` requests or ``seconds``,
    whichever ends first; every answer must be a 200 or the round fails loudly."""
    async with factory(url, body, concurrency) as post:
        for _ in range(50):  # connect and warm up outside the measurement
            assert await post() == 200
        bad = done = 0
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal bad, done
            while done < requests and time.perf_counter() < deadline:
                done += 1
                if await post() != 200:
                    bad += 1

        cpu0, t0 = time.process_time(), time.perf_counter()
        async with asyncio.timeout(seconds + 30):
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
    if bad:
        raise RuntimeError(f"{bad} requests failed")
    return 1e6 * cpu / done, done / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0, help="per round, at most")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    bodies = {
        "digits v1 JSON": orjson.dumps({"instances": rng.random((1, 64)).round(4).tolist()}),
        "224x224x3 fp32 binary": rng.random((1, 224, 224, 3), dtype=np.float32).tobytes(),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "tandem.loadtest.delay_server", "--lifetime-s", "1200"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{int(server.stdout.readline().split()[1])}"
        load = os.getloadavg()
        print(
            f"HTTP client CPU per request (uvloop, keep-alive, c={args.concurrency}, "
            f"median of {args.rounds} interleaved rounds; load average {load[0]:.2f})"
        )
        for label, body in bodies.items():
            n = args.requests if len(body) < 10_000 else max(1000, args.requests // 10)
            samples: dict[str, list[tuple[float, float]]] = {name: [] for name in CLIENTS}
            for _ in range(args.rounds):
                for name, factory in CLIENTS.items():
                    samples[name].append(
                        run_on_uvloop(
                            one_round(factory, url, body, n, args.concurrency, args.seconds)
                        )
                    )
            print(f"\n{label} ({len(body)} bytes, <= {n} requests or {args.seconds:g} s/round)")
            cpu = {}
            for name, rows in samples.items():
                cpu[name] = statistics.median(r[0] for r in rows)
                rps = statistics.median(r[1] for r in rows)
                print(f"  {name:<44} {cpu[name]:8.1f} us CPU/request  {rps:9.0f} req/s")
            own, *libs = cpu.values()
            best = min(libs)
            gain = (best - own) / best
            verdict = "KEEP" if gain >= KEEP_IF_WINS_BY else "REPLACE"
            print(
                f"  {verdict}: hand-written uses {100 * gain:+.0f}% less CPU than the better "
                f"library (keep only if >= {100 * KEEP_IF_WINS_BY:.0f}%)"
            )
    finally:
        server.kill()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
