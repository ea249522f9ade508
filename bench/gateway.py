"""Gateway benchmark: ``python -m bench.gateway [--routes build/config/routes.json]``.

For each backend, side by side in one run, against loopback servers only and bounded in time:

* gateway CPU ms per request (the gateway subprocess' CPU time / requests it served);
* added p50/p99 latency versus calling the backend's own REST API directly, at half of the
  direct saturation rate (open loop);
* saturation throughput ratio gateway/direct (closed loop, fixed concurrency);
* JSON vs binary (OIP v2) encode+decode time of a 1x224x224x3 fp32 tensor in the gateway's
  codecs.

The gateway runs as ``python -m gateway`` (uvloop + httptools) on a free loopback port.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import aiohttp
import numpy as np
import orjson

from gateway.codecs import v2
from gateway.route_table import RouteTable, load_route_table
from gateway.settings import is_loopback

KEY = "bench-key-0123456789abcdef"


@dataclass
class Result:
    count: int
    seconds: float
    latencies: list[float]
    errors: int

    @property
    def rps(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


Call = Callable[[aiohttp.ClientSession], Awaitable[bool]]


async def closed_loop(call: Call, concurrency: int, seconds: float, max_requests: int) -> Result:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline and len(latencies) + errors < max_requests:
                started = time.perf_counter()
                ok = await call(session)
                if ok:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return Result(len(latencies), elapsed, latencies, errors)


async def open_loop(call: Call, rate: float, seconds: float) -> Result:
    latencies: list[float] = []
    errors = 0
    total = max(1, int(rate * seconds))
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> None:
            nonlocal errors
            started = time.perf_counter()
            ok = await call(session)
            if ok:
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1

        tasks = []
        start = time.perf_counter()
        for i in range(total):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=seconds + 30)
        elapsed = time.perf_counter() - start
    return Result(len(latencies), elapsed, latencies, errors)


def post(url: str, body: bytes, headers: dict[str, str]) -> Call:
    timeout = aiohttp.ClientTimeout(total=10)

    async def call(session: aiohttp.ClientSession) -> bool:
        try:
            async with session.post(url, data=body, headers=headers, timeout=timeout) as r:
                await r.read()
                return r.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    return call


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_gateway(routes: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TANDEM_GATEWAY_ROUTES_FILE": str(routes),
        "TANDEM_GATEWAY_PORT": str(port),
        "TANDEM_GATEWAY_API_KEYS": KEY,
        "TANDEM_GATEWAY_LOG_LEVEL": "WARNING",
        "TANDEM_GATEWAY_ACCESS_LOG": "false",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("gateway did not start")


def direct_call(table: RouteTable, model: str, body_rows: list[list[float]]) -> Call:
    route = table.models[model]
    backend = table.backends[route.backend]
    assert backend.rest_url
    if backend.kind == "tfserving":
        url = f"{backend.rest_url}/v1/models/{route.upstream_name}/versions/1:predict"
        return post(
            url, orjson.dumps({"instances": body_rows}), {"Content-Type": "application/json"}
        )
    token = ""
    if backend.token_file and backend.token_file.exists():
        token = orjson.loads(backend.token_file.read_bytes())["inference"]["key"]
    url = f"{backend.rest_url}/predictions/{route.upstream_name}/1"
    return post(
        url,
        orjson.dumps({"instances": body_rows}),
        {"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )


def codec_times(repeats: int) -> tuple[float, float]:
    tensor = np.random.default_rng(0).random((1, 224, 224, 3), dtype=np.float32)

    def json_roundtrip() -> None:
        body, _ = v2.encode_infer_request({"x": tensor}, binary=False)
        v2.decode_infer_request(orjson.loads(body))

    def binary_roundtrip() -> None:
        body, n = v2.encode_infer_request({"x": tensor}, binary=True)
        assert n is not None
        header, tail = v2.split_binary(body, n)
        v2.decode_infer_request(header, tail)

    def timed(fn: Callable[[], None]) -> float:
        samples = []
        for _ in range(repeats):
            started = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - started)
        return statistics.median(samples) * 1000

    return timed(json_roundtrip), timed(binary_roundtrip)


async def bench_backend(
    args: argparse.Namespace, table: RouteTable, model: str, gateway_url: str, gateway_pid: int
) -> dict[str, float]:
    (spec,) = table.models[model].inputs
    shape = tuple(1 if d < 0 else d for d in spec.shape)
    rows = np.random.default_rng(0).random(shape).round(4).tolist()
    direct = direct_call(table, model, rows)
    via = post(
        f"{gateway_url}/v1/models/{model}/versions/1:predict",
        orjson.dumps({"instances": rows}),
        {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"},
    )
    await closed_loop(direct, 4, 1.0, 500)  # warm up both paths
    await closed_loop(via, 4, 1.0, 500)
    sat_direct = await closed_loop(direct, args.concurrency, args.seconds, args.max_requests)
    cpu0 = cpu_seconds(gateway_pid)
    sat_gateway = await closed_loop(via, args.concurrency, args.seconds, args.max_requests)
    rate = max(1.0, sat_direct.rps / 2)
    half_direct = await open_loop(direct, rate, args.seconds)
    half_gateway = await open_loop(via, rate, args.seconds)
    cpu1 = cpu_seconds(gateway_pid)
    served = sat_gateway.count + sat_gateway.errors + half_gateway.count + half_gateway.errors
    return {
        "cpu_ms_per_request": (cpu1 - cpu0) * 1000 / max(1, served),
        "direct_p50_ms": half_direct.pct(0.5),
        "direct_p99_ms": half_direct.pct(0.99),
        "gateway_p50_ms": half_gateway.pct(0.5),
        "gateway_p99_ms": half_gateway.pct(0.99),
        "added_p50_ms": half_gateway.pct(0.5) - half_direct.pct(0.5),
        "added_p99_ms": half_gateway.pct(0.99) - half_direct.pct(0.99),
        "half_load_rps": rate,
        "direct_sat_rps": sat_direct.rps,
        "gateway_sat_rps": sat_gateway.rps,
        "throughput_ratio": sat_gateway.rps / sat_direct.rps if sat_direct.rps else 0.0,
        "errors": float(
            sat_direct.errors + sat_gateway.errors + half_direct.errors + half_gateway.errors
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", type=Path, default=Path("build/config/routes.json"))
    parser.add_argument("--seconds", type=float, default=5.0, help="per phase")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-requests", type=int, default=50_000)
    parser.add_argument("--codec-repeats", type=int, default=10)
    args = parser.parse_args()

    table = load_route_table(args.routes)
    for name, backend in table.backends.items():
        for url in (backend.rest_url, f"//{backend.grpc_target}" if backend.grpc_target else None):
            host = urlparse(url).hostname if url else None
            if host and not is_loopback(host):
                raise SystemExit(f"refusing to benchmark non-loopback backend {name}: {host}")
    picks = {}
    for model, route in sorted(table.models.items(), key=lambda m: "mlp" not in m[0]):
        picks.setdefault(route.backend, model)
    port = free_port()
    gateway = start_gateway(args.routes, port)
    try:
        results = {
            backend: asyncio.run(
                bench_backend(args, table, model, f"http://127.0.0.1:{port}", gateway.pid)
            )
            for backend, model in sorted(picks.items())
        }
    finally:
        gateway.terminate()
        try:
            gateway.wait(timeout=10)
        except subprocess.TimeoutExpired:
            gateway.kill()
    json_ms, binary_ms = codec_times(args.codec_repeats)

    print(
        f"gateway benchmark (loopback, {os.cpu_count()} CPUs, concurrency "
        f"{args.concurrency}, {args.seconds:.0f} s/phase)"
    )
    header = f"{'metric':<24}" + "".join(f"{b + ' (' + picks[b] + ')':>34}" for b in results)
    print(header)
    for key in next(iter(results.values())):
        print(f"{key:<24}" + "".join(f"{r[key]:>34.3f}" for r in results.values()))
    print(
        f"codec 1x224x224x3 fp32 encode+decode: JSON {json_ms:.1f} ms, binary "
        f"{binary_ms:.2f} ms, binary speed-up {json_ms / binary_ms:.0f}x"
    )


if __name__ == "__main__":
    main()
