"""Gateway benchmark: ``python -m bench.gateway [--routes build/config/routes.json]``.

For each backend, side by side in one run, against loopback servers only and bounded in time:

* saturation throughput, direct (the backend's own REST API) and via the gateway: the best
  rate of closed loops at a few concurrencies (the backends batch), with ``wrk`` when it is
  installed (a C load generator leaves the shared cores to the servers), else a Python
  generator; and their ratio;
* added p50/p99 latency versus calling the backend directly, both measured open loop
  (constant arrival rate, so queueing in the generator does not inflate them) at the same
  rate: half of the direct saturation rate. When the gateway cannot keep that rate up, the
  output says so instead of reporting queueing as "added latency"; and the same at a light
  rate (``--light-rps``), where the shared cores are not busy;
* gateway CPU ms per request (the gateway process' CPU time / requests it served), at half
  load and at saturation;
* JSON vs binary (OIP v2) encode+decode time of a 1x224x224x3 fp32 tensor in the gateway's
  codecs.

The gateway runs as ``python -m gateway`` (uvloop + httptools) on a free loopback port;
``--transport rest`` makes it talk REST instead of gRPC to the backends.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse, urlsplit

import numpy as np
import orjson

from gateway.backends._http import HttpClient
from gateway.errors import GatewayError
from gateway.route_table import RouteTable, load_route_table
from gateway.settings import is_loopback
from wire import v2

KEY = "bench-key-0123456789abcdef"
T = TypeVar("T")

#: Targets of the gateway (issue text); ``check_targets`` prints them with the results.
TARGET_CPU_MS = 0.5
TARGET_ADDED_P50_MS = 0.5
TARGET_THROUGHPUT_RATIO = 0.75
TARGET_BINARY_SPEEDUP = 5.0


@dataclass
class Result:
    count: int
    seconds: float
    latencies: list[float]
    errors: int
    lag_p99_ms: float = 0.0  # open loop: how late the generator sent (its own limit)

    @property
    def rps(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


Call = Callable[[], Awaitable[bool]]


async def closed_loop(call: Call, concurrency: int, seconds: float, max_requests: int) -> Result:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < deadline and len(latencies) + errors < max_requests:
            started = time.perf_counter()
            ok = await call()
            if ok:
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return Result(len(latencies), elapsed, latencies, errors)


async def open_loop(call: Call, rate: float, seconds: float) -> Result:
    """Send ``rate`` requests per second on schedule whatever the answers' latency."""
    latencies: list[float] = []
    lags: list[float] = []
    errors = 0
    total = max(1, int(rate * seconds))

    async def one() -> None:
        nonlocal errors
        started = time.perf_counter()
        ok = await call()
        if ok:
            latencies.append(time.perf_counter() - started)
        else:
            errors += 1

    tasks = []
    start = time.perf_counter()
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        lags.append(time.perf_counter() - due)
        tasks.append(asyncio.create_task(one()))
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=seconds + 30)
    elapsed = time.perf_counter() - start
    lags.sort()
    lag = lags[min(len(lags) - 1, int(0.99 * len(lags)))] * 1000
    return Result(len(latencies), elapsed, latencies, errors, lag)


@dataclass
class Target:
    """One HTTP endpoint to load: URL, body and headers.

    The Python generator sends with the gateway's own keep-alive client (one write per
    request, little Python per call), so that it takes as little of the shared CPUs as
    it can; :func:`run_on_uvloop` runs it on uvloop."""

    url: str
    body: bytes
    headers: dict[str, str]
    _client: HttpClient | None = None

    def call(self) -> Call:
        parts = urlsplit(self.url)
        base, path = f"{parts.scheme}://{parts.netloc}", parts.path

        async def call() -> bool:
            if self._client is None:
                self._client = HttpClient("bench", base, pool_size=1024)
            try:
                status, _ = await self._client.request(
                    "POST", path, body=self.body, headers=self.headers, timeout_s=10, what="bench"
                )
            except GatewayError:
                return False
            return status == 200

        return call

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def wrk_closed_loop(target: Target, concurrency: int, seconds: float) -> Result | None:
    """Closed loop with ``wrk`` (``None`` when it is not installed)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    lines = ['wrk.method = "POST"', f"wrk.body = {_lua_string(target.body)}"]
    lines += [
        f"wrk.headers[{_lua_string(k.encode())}] = {_lua_string(v.encode())}"
        for k, v in target.headers.items()
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lines) + "\n")
    try:
        out = subprocess.run(
            [
                wrk,
                "-t1",
                f"-c{concurrency}",
                f"-d{max(1, round(seconds))}s",
                "--latency",
                "-s",
                script.name,
                target.url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    total = int(_grab(r"(\d+) requests in", out))
    elapsed = _duration_s(_grab(r"requests in ([\d.]+\w+),", out))
    bad = int(_grab(r"Non-2xx or 3xx responses: (\d+)", out, "0"))
    errs = _grab(r"Socket errors: (.*)", out, "")
    bad += sum(int(n) for n in re.findall(r"\d+", errs))
    return Result(total - bad, elapsed, [], bad)


def _lua_string(raw: bytes) -> str:
    return '"' + "".join(f"\\{b:03d}" for b in raw) + '"'


def _grab(pattern: str, text: str, default: str | None = None) -> str:
    match = re.search(pattern, text)
    if match is None:
        if default is None:
            raise RuntimeError(f"unexpected wrk output (no {pattern!r}):\n{text}")
        return default
    return match.group(1)


def _duration_s(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


async def saturate(target: Target, args: argparse.Namespace) -> dict[int, Result]:
    """Closed loop at each ``--concurrency``: the saturation rate is the best of them (the
    backends batch, so their rate keeps growing with the queue for a while)."""
    results = {}
    for concurrency in args.concurrency:
        result = None if args.python_load else wrk_closed_loop(target, concurrency, args.seconds)
        if result is None:
            result = await closed_loop(target.call(), concurrency, args.seconds, args.max_requests)
        results[concurrency] = result
    return results


def _best(results: dict[int, Result]) -> Result:
    return max(results.values(), key=lambda r: r.rps)


def run_on_uvloop(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on uvloop when it is installed (the gateway's own loop), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_gateway(
    routes: Path, port: int, transport: str, source: Path | None = None
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TANDEM_GATEWAY_PREFER_GRPC": "true" if transport == "grpc" else "false",
        "TANDEM_GATEWAY_ROUTES_FILE": str(routes),
        "TANDEM_GATEWAY_PORT": str(port),
        "TANDEM_GATEWAY_API_KEYS": KEY,
        "TANDEM_GATEWAY_LOG_LEVEL": "WARNING",
        "TANDEM_GATEWAY_ACCESS_LOG": "false",
    }
    if source is not None:  # another checkout's gateway package, e.g. for before/after
        env["PYTHONPATH"] = str(source.resolve())
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway"],
        env=env,
        cwd=source,
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


def direct_target(table: RouteTable, model: str, body_rows: list[list[float]]) -> Target:
    route = table.models[model]
    backend = table.backends[route.backend]
    assert backend.rest_url
    body = orjson.dumps({"instances": body_rows})
    if backend.kind == "tfserving":
        url = f"{backend.rest_url}/v1/models/{route.upstream_name}/versions/1:predict"
        return Target(url, body, {"Content-Type": "application/json"})
    token = ""
    if backend.token_file and backend.token_file.exists():
        token = orjson.loads(backend.token_file.read_bytes())["inference"]["key"]
    url = f"{backend.rest_url}/predictions/{route.upstream_name}/1"
    return Target(
        url, body, {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
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
    direct = direct_target(table, model, rows)
    via = Target(
        f"{gateway_url}/v1/models/{model}/versions/1:predict",
        orjson.dumps({"instances": rows}),
        {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"},
    )
    await closed_loop(direct.call(), 4, 1.0, 500)  # warm up both paths
    await closed_loop(via.call(), 4, 1.0, 500)
    sweep_direct = await saturate(direct, args)
    cpu0 = cpu_seconds(gateway_pid)
    sweep_gateway = await saturate(via, args)
    cpu1 = cpu_seconds(gateway_pid)
    sat_direct, sat_gateway = _best(sweep_direct), _best(sweep_gateway)
    sat_served = sum(r.count + r.errors for r in sweep_gateway.values())
    rate = max(1.0, sat_direct.rps / 2)
    half_direct = await open_loop(direct.call(), rate, args.seconds)
    cpu2 = cpu_seconds(gateway_pid)
    half_gateway = await open_loop(via.call(), rate, args.seconds)
    cpu3 = cpu_seconds(gateway_pid)
    # The same comparison where the shared cores are not busy: what the hop itself adds.
    light_direct = await open_loop(direct.call(), args.light_rps, args.seconds)
    light_gateway = await open_loop(via.call(), args.light_rps, args.seconds)
    await direct.aclose()
    await via.aclose()
    # Sustained: every request answered and the answers kept up with the arrivals.
    sustained = half_gateway.errors == 0 and half_gateway.rps >= 0.9 * rate
    return {
        "cpu_ms_per_request": (cpu3 - cpu2) * 1000 / max(1, half_gateway.count),
        "cpu_ms_per_request_sat": (cpu1 - cpu0) * 1000 / max(1, sat_served),
        "half_load_rps": rate,
        "direct_p50_ms": half_direct.pct(0.5),
        "direct_p99_ms": half_direct.pct(0.99),
        "gateway_p50_ms": half_gateway.pct(0.5),
        "gateway_p99_ms": half_gateway.pct(0.99),
        "added_p50_ms": half_gateway.pct(0.5) - half_direct.pct(0.5),
        "added_p99_ms": half_gateway.pct(0.99) - half_direct.pct(0.99),
        "light_load_rps": float(args.light_rps),
        "added_p50_ms_light": light_gateway.pct(0.5) - light_direct.pct(0.5),
        "added_p99_ms_light": light_gateway.pct(0.99) - light_direct.pct(0.99),
        "gateway_half_load_rps": half_gateway.rps,
        "half_load_sustained": float(sustained),
        "generator_lag_p99_ms": max(half_direct.lag_p99_ms, half_gateway.lag_p99_ms),
        **{f"direct_rps_c{c}": r.rps for c, r in sweep_direct.items()},
        **{f"gateway_rps_c{c}": r.rps for c, r in sweep_gateway.items()},
        "direct_sat_rps": sat_direct.rps,
        "gateway_sat_rps": sat_gateway.rps,
        "throughput_ratio": sat_gateway.rps / sat_direct.rps if sat_direct.rps else 0.0,
        "direct_errors": float(
            sum(r.errors for r in sweep_direct.values()) + half_direct.errors + light_direct.errors
        ),
        "gateway_errors": float(
            sum(r.errors for r in sweep_gateway.values())
            + half_gateway.errors
            + light_gateway.errors
        ),
    }


def check_targets(results: dict[str, dict[str, float]], speedup: float) -> list[str]:
    """One PASS/FAIL line per target and backend."""
    lines = []
    for backend, r in results.items():
        cpu = max(r["cpu_ms_per_request"], r["cpu_ms_per_request_sat"])
        checks = [
            (f"gateway CPU <= {TARGET_CPU_MS} ms/request", cpu <= TARGET_CPU_MS, f"{cpu:.3f}"),
            (
                f"added p50 <= {TARGET_ADDED_P50_MS} ms at half load",
                bool(r["half_load_sustained"]) and r["added_p50_ms"] <= TARGET_ADDED_P50_MS,
                f"{r['added_p50_ms']:.3f}"
                + ("" if r["half_load_sustained"] else " (rate NOT sustained by the gateway)"),
            ),
            (
                f"throughput >= {TARGET_THROUGHPUT_RATIO}x direct",
                r["throughput_ratio"] >= TARGET_THROUGHPUT_RATIO,
                f"{r['throughput_ratio']:.3f}",
            ),
        ]
        for name, ok, value in checks:
            verdict = "PASS" if ok else "FAIL"
            if "added p50" in name and r["added_p50_ms"] < 0:
                # The direct path was slower than the path through the gateway: the backend
                # itself was overloaded at this rate, so the difference measures nothing.
                verdict = "INCONCLUSIVE"
                value += " (direct slower than via gateway: backend overloaded; rerun)"
            lines.append(f"{verdict:<4}  {backend:<12} {name}: {value}")
    ok = speedup >= TARGET_BINARY_SPEEDUP
    lines.append(
        f"{'PASS' if ok else 'FAIL'}  {'codec':<12} binary >= "
        f"{TARGET_BINARY_SPEEDUP:.0f}x faster than JSON: {speedup:.0f}x"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", type=Path, default=Path("build/config/routes.json"))
    parser.add_argument("--seconds", type=float, default=5.0, help="per phase")
    parser.add_argument(
        "--concurrency",
        type=lambda text: [int(c) for c in text.split(",")],
        default=[16, 64],
        help="closed-loop connections, comma-separated; saturation = the best rate",
    )
    parser.add_argument("--max-requests", type=int, default=50_000)
    parser.add_argument("--codec-repeats", type=int, default=10)
    parser.add_argument(
        "--transport", choices=("grpc", "rest"), default="grpc", help="gateway → backends"
    )
    parser.add_argument(
        "--light-rps", type=float, default=100.0, help="rate of the light-load latency check"
    )
    parser.add_argument(
        "--gateway-source",
        type=Path,
        help="directory holding the gateway package to run (default: this one)",
    )
    parser.add_argument(
        "--python-load", action="store_true", help="Python load generator even if wrk exists"
    )
    args = parser.parse_args()

    table = load_route_table(args.routes)
    for name, backend in table.backends.items():
        for url in (backend.rest_url, f"//{backend.grpc_target}" if backend.grpc_target else None):
            host = urlparse(url).hostname if url else None
            if host and not is_loopback(host):
                raise SystemExit(f"refusing to benchmark non-loopback backend {name}: {host}")
    picks: dict[str, str] = {}
    for model, route in sorted(table.models.items(), key=lambda m: "mlp" not in m[0]):
        picks.setdefault(route.backend, model)
    port = free_port()
    gateway = start_gateway(args.routes.resolve(), port, args.transport, args.gateway_source)
    try:
        results = {
            backend: run_on_uvloop(
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

    generator = "Python" if args.python_load or not shutil.which("wrk") else "wrk"
    print(
        f"gateway benchmark (loopback, {os.cpu_count()} CPUs, gateway->backend "
        f"{args.transport}, saturation: {generator} closed loop, best of "
        f"concurrency {','.join(map(str, args.concurrency))}; half load: Python open loop; "
        f"{args.seconds:g} s/phase)"
    )
    header = f"{'metric':<24}" + "".join(f"{b + ' (' + picks[b] + ')':>34}" for b in results)
    print(header)
    for key in next(iter(results.values())):
        print(f"{key:<24}" + "".join(f"{r[key]:>34.3f}" for r in results.values()))
    speedup = json_ms / binary_ms
    print(
        f"codec 1x224x224x3 fp32 encode+decode: JSON {json_ms:.1f} ms, binary "
        f"{binary_ms:.2f} ms, binary speed-up {speedup:.0f}x"
    )
    for line in check_targets(results, speedup):
        print(line)


if __name__ == "__main__":
    main()
